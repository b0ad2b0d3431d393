// Package schemas embeds the JSON Schemas (2020-12) of every integration
// event version: the published contract. See README.md.
package schemas

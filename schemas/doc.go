// Package schemas embeds the JSON Schemas (2020-12) of every integration
// event version, the published contract, and validates payloads against
// them. A schema lives at "<context>/<event>.v<N>.json" and its title is
// the event type ("ordering.order_placed.v2"). See README.md.
package schemas

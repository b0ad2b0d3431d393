// Package catalog is the catalog bounded context of Troupe: see README.md.
package catalog

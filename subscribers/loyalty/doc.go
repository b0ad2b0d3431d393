// Package loyalty is a Troupe subscriber built only on the SDK: see README.md.
package loyalty

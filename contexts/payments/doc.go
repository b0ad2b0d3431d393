// Package payments is the payments bounded context of Troupe: see README.md.
package payments

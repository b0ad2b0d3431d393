// Package ordering is the ordering bounded context of Troupe: see README.md.
package ordering

module github.com/troupe-dev/troupe/subscribers/webhook

go 1.26

require (
	github.com/troupe-dev/troupe/embedded v0.0.0-00010101000000-000000000000
	github.com/troupe-dev/troupe/shared/events v0.0.0-00010101000000-000000000000
	github.com/troupe-dev/troupe/shared/platform v0.0.0-00010101000000-000000000000
)

// Sibling modules of this repository resolve locally.
replace (
	github.com/troupe-dev/troupe/embedded => ../../embedded
	github.com/troupe-dev/troupe/shared/events => ../../shared/events
	github.com/troupe-dev/troupe/shared/platform => ../../shared/platform
)

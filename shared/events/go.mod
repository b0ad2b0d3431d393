module github.com/troupe-dev/troupe/shared/events

go 1.26

require github.com/troupe-dev/troupe/schemas v0.0.0-00010101000000-000000000000

require (
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3 // indirect
	golang.org/x/text v0.14.0 // indirect
)

replace github.com/troupe-dev/troupe/schemas => ../../schemas

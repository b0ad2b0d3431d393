module github.com/troupe-dev/troupe/shared/events

go 1.26

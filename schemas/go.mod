module github.com/troupe-dev/troupe/schemas

go 1.26

package httpapi

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// HeaderConsistency names what a command wrote, for read-your-writes.
const HeaderConsistency = "Troupe-Consistency"

// StreamRevision is one "<stream>@<revision>" item of a consistency token.
type StreamRevision struct {
	Stream   string
	Revision uint64
}

// String formats the item.
func (s StreamRevision) String() string { return s.Stream + "@" + strconv.FormatUint(s.Revision, 10) }

// FormatConsistency joins items into a token.
func FormatConsistency(items ...StreamRevision) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = it.String()
	}
	return strings.Join(parts, ",")
}

// SetConsistency sets the Troupe-Consistency header of a command's answer.
func SetConsistency(c echo.Context, items ...StreamRevision) {
	if len(items) > 0 {
		c.Response().Header().Set(HeaderConsistency, FormatConsistency(items...))
	}
}

// ParseConsistency parses a token, splitting each item on its last "@".
func ParseConsistency(token string) ([]StreamRevision, error) {
	var out []StreamRevision
	for _, item := range strings.Split(token, ",") {
		item = strings.TrimSpace(item)
		i := strings.LastIndexByte(item, '@')
		if i <= 0 || i == len(item)-1 {
			return nil, fmt.Errorf("consistency item %q: want <stream>@<revision>", item)
		}
		rev, err := strconv.ParseUint(item[i+1:], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("consistency item %q: revision: %w", item, err)
		}
		out = append(out, StreamRevision{Stream: item[:i], Revision: rev})
	}
	return out, nil
}

package eventstore

import (
	"regexp"
	"strings"

	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
)

// defaultSearchWindow stands in for a filter without a max search window
// when the checkpoint interval is computed.
const defaultSearchWindow = 32

// eventFilter is a server-side $all filter on stream name or event type, by
// prefixes (any of) or a regular expression (RE2, unanchored).
type eventFilter struct {
	onType   bool
	prefixes []string
	re       *regexp.Regexp
	// checkpointEvery is the number of filtered-out events between two
	// checkpoints: max search window times the interval multiplier, as
	// KurrentDB counts it.
	checkpointEvery int
}

func newFilter(opts *api.ReadReq_Options) (*eventFilter, error) {
	fo := opts.GetFilter()
	if fo == nil {
		return nil, nil
	}
	f := &eventFilter{}
	var expr *api.ReadReq_Options_FilterOptions_Expression
	switch x := fo.GetFilter().(type) {
	case *api.ReadReq_Options_FilterOptions_EventType:
		f.onType, expr = true, x.EventType
	case *api.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr = x.StreamIdentifier
	default:
		return nil, badRequest("filter needs a stream identifier or event type expression")
	}
	f.prefixes = expr.GetPrefix()
	if r := expr.GetRegex(); r != "" {
		re, err := regexp.Compile(r)
		if err != nil {
			return nil, badRequest("filter regex %q: %v", r, err)
		}
		f.re = re
	}
	window := int(fo.GetMax())
	if window <= 0 {
		window = defaultSearchWindow
	}
	mult := int(fo.GetCheckpointIntervalMultiplier())
	if mult <= 0 {
		mult = 1
	}
	f.checkpointEvery = window * mult
	return f, nil
}

// match reports whether an event passes; a nil filter passes everything.
func (f *eventFilter) match(stream, typ string) bool {
	if f == nil {
		return true
	}
	s := stream
	if f.onType {
		s = typ
	}
	if f.re != nil && !f.re.MatchString(s) {
		return false
	}
	if len(f.prefixes) == 0 {
		return true
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

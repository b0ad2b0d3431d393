package eventstore

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// FuzzAppend appends random stream names, event types and payloads through
// the client. The server must never panic, must accept or reject each append
// cleanly, must store accepted ones exactly, and must stay usable.
func FuzzAppend(f *testing.F) {
	f.Add("orders-1", "order_placed", []byte(`{"a":1}`), []byte(nil))
	f.Add("$$orders-1", "$metadata", []byte(`{"$maxCount":1}`), []byte(nil))
	f.Add("$$orders-2", "$metadata", []byte(`{"$tb":"x","$maxAge":-5}`), []byte(`{}`))
	f.Add("$$", "x", []byte{}, []byte{})
	f.Add("$$$$x", "x", []byte{}, []byte{})
	f.Add("$all", "x", []byte{0}, []byte{1})
	f.Add("", "x", []byte{}, []byte{})
	f.Add("s", "", []byte{}, []byte{})
	f.Add("bad\xffname", "t", []byte{}, []byte{})
	f.Add("nul\x00name", "t\x00", []byte{0xff, 0}, []byte{0xfe})
	f.Add(strings.Repeat("long", 300), "t", []byte{}, []byte{})
	f.Add("big", "t", bytes.Repeat([]byte("x"), 1<<20), []byte{})
	f.Add("snowman-☃", "événement", []byte("\xff\xfe"), []byte("meta"))

	s := startServer(f, Config{})
	c := newClient(f, s.URL())
	f.Fuzz(func(t *testing.T, stream, typ string, data, meta []byte) {
		ctx := ctxT(t)
		ev := esdb.EventData{EventType: typ, ContentType: esdb.ContentTypeBinary, Data: data, Metadata: meta}
		res, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, ev)
		valid := stream != "" && len(stream) <= DefaultMaxStreamNameLen && utf8.ValidString(stream) &&
			stream != "$all" && stream != "$$" && !strings.HasPrefix(stream, "$$$$") &&
			typ != "" && utf8.ValidString(typ) && len(data)+len(meta) < DefaultMaxAppendSize-1024
		if err != nil {
			if valid {
				t.Fatalf("valid append to %q rejected: %v", stream, err)
			}
		} else {
			if !valid && len(data)+len(meta) < DefaultMaxAppendSize-1024 {
				t.Fatalf("invalid append to %q accepted", stream)
			}
			got, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1))
			if err != nil {
				t.Fatalf("read back %q: %v", stream, err)
			}
			if len(got) != 1 {
				t.Fatalf("read back %q: %d events", stream, len(got))
			}
			r := got[0].OriginalEvent()
			if r.StreamID != stream || r.EventType != typ || !bytes.Equal(r.Data, data) ||
				!bytes.Equal(r.UserMetadata, meta) || r.EventNumber != res.NextExpectedVersion {
				t.Fatalf("read back %q: got %s/%s@%d, want %s@%d", stream, r.StreamID, r.EventType, r.EventNumber, typ, res.NextExpectedVersion)
			}
		}
		// The store stays consistent and writable.
		if _, err := c.AppendToStream(ctx, "fuzz-canary", esdb.AppendToStreamOptions{}, jsonEvent("ok", "{}")); err != nil {
			t.Fatalf("store unusable after %q: %v", stream, err)
		}
		if _, err := collect(c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 5)); err != nil {
			t.Fatalf("$all unreadable after %q: %v", stream, err)
		}
	})
}

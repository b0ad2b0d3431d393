package eventstoretest

import (
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// testSoftDelete checks KurrentDB's soft delete: the stream reads as not
// found, and a later append recreates it, continuing the revisions, with
// only the new events visible.
func testSoftDelete(t *testing.T, c *esdb.Client) {
	stream := unique("contract_del-")
	mustAppend(t, c, stream, esdb.NoStream{}, newEvents("contract.deleted", 3)...)

	if _, err := c.DeleteStream(testCtx(t), stream, esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(1)}); err == nil {
		t.Fatal("delete with a stale expected revision succeeded")
	}
	if got := mustReadStream(t, c, stream, esdb.ReadStreamOptions{}, 10); len(got) != 3 {
		t.Fatalf("a refused delete changed the stream: %d events", len(got))
	}
	if _, err := c.DeleteStream(testCtx(t), stream, esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(2)}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err := readStream(testCtx(t), c, stream, esdb.ReadStreamOptions{}, 10)
	wantErrCode(t, "read forwards after delete", err, esdb.ErrorCodeResourceNotFound)
	_, err = readStream(testCtx(t), c, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 10)
	wantErrCode(t, "read backwards after delete", err, esdb.ErrorCodeResourceNotFound)

	again := newEvent("contract.recreated", 3)
	if wr := mustAppend(t, c, stream, esdb.Any{}, again); wr.NextExpectedVersion != 3 {
		t.Fatalf("append after delete: next expected version %d, want 3 (revisions continue)", wr.NextExpectedVersion)
	}
	got := mustReadStream(t, c, stream, esdb.ReadStreamOptions{}, 10)
	if !equalUints(revisions(got), []uint64{3}) || got[0].EventID != again.EventID {
		t.Fatalf("after recreating: revisions %v, want only the new event at 3", revisions(got))
	}
}

// testTombstone checks the hard delete: the stream can never be read,
// written or deleted again.
func testTombstone(t *testing.T, c *esdb.Client) {
	stream := unique("contract_tomb-")
	mustAppend(t, c, stream, esdb.NoStream{}, newEvents("contract.tombstoned", 2)...)
	if _, err := c.TombstoneStream(testCtx(t), stream, esdb.TombstoneStreamOptions{ExpectedRevision: esdb.Revision(1)}); err != nil {
		t.Fatalf("tombstone: %v", err)
	}
	_, err := readStream(testCtx(t), c, stream, esdb.ReadStreamOptions{}, 10)
	wantErrCode(t, "read after tombstone", err, esdb.ErrorCodeStreamDeleted)
	_, err = c.AppendToStream(testCtx(t), stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, newEvent("contract.tombstoned", 2))
	wantErrCode(t, "append after tombstone", err, esdb.ErrorCodeStreamDeleted)
	_, err = c.TombstoneStream(testCtx(t), stream, esdb.TombstoneStreamOptions{ExpectedRevision: esdb.Any{}})
	wantErrCode(t, "tombstone twice", err, esdb.ErrorCodeStreamDeleted)
	_, err = c.DeleteStream(testCtx(t), stream, esdb.DeleteStreamOptions{ExpectedRevision: esdb.Any{}})
	wantErrCode(t, "delete after tombstone", err, esdb.ErrorCodeStreamDeleted)
}

// testMetadataMaxCount checks stream metadata as checkpoint and snapshot
// streams use it: maxCount keeps only the latest events, whether set before
// or after they were written, and custom properties come back as written.
func testMetadataMaxCount(t *testing.T, c *esdb.Client) {
	before := unique("contract_maxcount-")
	var md esdb.StreamMetadata
	md.SetMaxCount(2)
	md.AddCustomProperty("owner", "contract")
	if _, err := c.SetStreamMetadata(testCtx(t), before, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, md); err != nil {
		t.Fatalf("set metadata: %v", err)
	}
	mustAppend(t, c, before, esdb.NoStream{}, newEvents("contract.counted", 5)...)
	if got := mustReadStream(t, c, before, esdb.ReadStreamOptions{}, 10); !equalUints(revisions(got), []uint64{3, 4}) {
		t.Fatalf("maxCount 2, forwards: revisions %v, want [3 4]", revisions(got))
	}
	if got := mustReadStream(t, c, before, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 10); !equalUints(revisions(got), []uint64{4, 3}) {
		t.Fatalf("maxCount 2, backwards: revisions %v, want [4 3]", revisions(got))
	}
	read, err := c.GetStreamMetadata(testCtx(t), before, esdb.ReadStreamOptions{})
	if err != nil {
		t.Fatalf("get metadata: %v", err)
	}
	if mc := read.MaxCount(); mc == nil || *mc != 2 || read.CustomProperty("owner") != "contract" {
		t.Fatalf("metadata read back as maxCount %v, owner %v", mc, read.CustomProperty("owner"))
	}

	after := unique("contract_maxcount-")
	mustAppend(t, c, after, esdb.NoStream{}, newEvents("contract.counted", 5)...)
	var one esdb.StreamMetadata
	one.SetMaxCount(1)
	if _, err := c.SetStreamMetadata(testCtx(t), after, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, one); err != nil {
		t.Fatalf("set metadata: %v", err)
	}
	if got := mustReadStream(t, c, after, esdb.ReadStreamOptions{}, 10); !equalUints(revisions(got), []uint64{4}) {
		t.Fatalf("maxCount 1 set after 5 events: revisions %v, want [4]", revisions(got))
	}
	if wr := mustAppend(t, c, after, esdb.Revision(4), newEvent("contract.counted", 5)); wr.NextExpectedVersion != 5 {
		t.Fatalf("append under maxCount: next expected version %d, want 5", wr.NextExpectedVersion)
	}
	if got := mustReadStream(t, c, after, esdb.ReadStreamOptions{}, 10); !equalUints(revisions(got), []uint64{5}) {
		t.Fatalf("maxCount 1 after another append: revisions %v, want [5]", revisions(got))
	}
}

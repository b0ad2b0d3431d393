package eventstore

import (
	"math"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

func TestSoftDelete(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	stream := newStream("soft")
	if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, events(3, "x")...); err != nil {
		t.Fatal(err)
	}
	_, err := c.DeleteStream(ctx, stream, esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(1)})
	if err == nil {
		t.Fatal("delete at a stale revision succeeded")
	}
	res, err := c.DeleteStream(ctx, stream, esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(2)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Position.Commit == 0 {
		t.Error("delete answered no position")
	}
	if _, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{}, 10)); errCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("read after soft delete: err = %v, want not found", err)
	}
	meta, err := c.GetStreamMetadata(ctx, stream, esdb.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// JSON numbers reach the client as float64, so max int64 comes back
	// rounded up by one, as it does from KurrentDB.
	if tb := meta.TruncateBefore(); tb == nil || *tb < math.MaxInt64 {
		t.Errorf("metadata after soft delete: $tb = %v, want max int64", tb)
	}

	// Appending again recreates the stream; the numbering resumes.
	w, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, events(2, "x")...)
	if err != nil {
		t.Fatalf("append after soft delete: %v", err)
	}
	if w.NextExpectedVersion != 4 {
		t.Errorf("revision after recreate = %d, want 4", w.NextExpectedVersion)
	}
	got, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{}, 10))
	if err != nil {
		t.Fatal(err)
	}
	if revs := revisions(got); len(revs) != 2 || revs[0] != 3 || revs[1] != 4 {
		t.Errorf("read after recreate = %v, want [3 4]", revs)
	}
	meta, err = c.GetStreamMetadata(ctx, stream, esdb.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tb := meta.TruncateBefore(); tb == nil || *tb != 3 {
		t.Errorf("metadata after recreate: $tb = %v, want 3", tb)
	}
}

func TestTombstone(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	stream := newStream("tomb")
	if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, events(2, "x")...); err != nil {
		t.Fatal(err)
	}
	sub, err := c.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	readSub(t, sub, 0, true)

	res, err := c.TombstoneStream(ctx, stream, esdb.TombstoneStreamOptions{ExpectedRevision: esdb.Revision(1)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Position.Commit == 0 {
		t.Error("tombstone answered no position")
	}
	if _, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{}, 10)); errCode(err) != esdb.ErrorCodeStreamDeleted {
		t.Errorf("read after tombstone: err = %v, want stream deleted", err)
	}
	if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, events(1, "x")...); errCode(err) != esdb.ErrorCodeStreamDeleted {
		t.Errorf("append after tombstone: err = %v, want stream deleted", err)
	}
	if _, err := c.TombstoneStream(ctx, stream, esdb.TombstoneStreamOptions{}); errCode(err) != esdb.ErrorCodeStreamDeleted {
		t.Errorf("second tombstone: err = %v, want stream deleted", err)
	}
	if _, err := c.DeleteStream(ctx, stream, esdb.DeleteStreamOptions{}); errCode(err) != esdb.ErrorCodeStreamDeleted {
		t.Errorf("delete after tombstone: err = %v, want stream deleted", err)
	}
	// A live subscriber is told.
	for {
		m := next(t, sub)
		if m.SubscriptionDropped != nil {
			break
		}
	}
	// A new subscription is confirmed, then dropped with stream deleted.
	late, err := c.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if m := next(t, late); m.SubscriptionDropped == nil || !contains(m.SubscriptionDropped.Error.Error(), "is deleted") {
		t.Errorf("subscription to a tombstoned stream: %+v", m)
	}
	// $all keeps the $streamDeleted event, as KurrentDB does before a scavenge.
	all, err := collect(c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1))
	if err != nil {
		t.Fatal(err)
	}
	last := all[0].OriginalEvent()
	if last.StreamID != stream || last.EventType != "$streamDeleted" || last.EventNumber != math.MaxInt64 {
		t.Errorf("last $all event = %s %s@%d", last.StreamID, last.EventType, last.EventNumber)
	}
}

func TestStreamMetadata(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := newClient(t, s.URL())
	ctx := ctxT(t)

	t.Run("round trip", func(t *testing.T) {
		stream := newStream("meta")
		acl := esdb.Acl{}
		// One role per list: the v4.2.0 client cannot parse role lists
		// back (it expects []string from encoding/json).
		acl.AddReadRoles("admin")
		acl.AddWriteRoles("$admins")
		var m esdb.StreamMetadata
		m.SetMaxCount(10)
		m.SetMaxAge(time.Hour)
		m.SetTruncateBefore(2)
		m.SetCacheControl(time.Minute)
		m.SetAcl(acl)
		m.AddCustomProperty("owner", "catalog")
		m.AddCustomProperty("tier", float64(3))
		if _, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, m); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetStreamMetadata(ctx, stream, esdb.ReadStreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantJSON, _ := m.ToJson()
		gotJSON, _ := got.ToJson()
		if string(wantJSON) != string(gotJSON) {
			t.Errorf("metadata = %s, want %s", gotJSON, wantJSON)
		}
		// Role lists are stored and returned as written.
		raw := `{"$acl":{"$r":["admin","ops"]},"custom":{"nested":[1,2]}}`
		metaEvent := esdb.EventData{EventType: "$metadata", ContentType: esdb.ContentTypeJson, Data: []byte(raw)}
		if _, err := c.AppendToStream(ctx, "$$"+stream, esdb.AppendToStreamOptions{}, metaEvent); err != nil {
			t.Fatal(err)
		}
		rawGot, err := collect(c.ReadStream(ctx, "$$"+stream, esdb.ReadStreamOptions{}, 10))
		if err != nil {
			t.Fatal(err)
		}
		if len(rawGot) != 1 || string(rawGot[0].OriginalEvent().Data) != raw {
			t.Errorf("metadata stream read = %d events, want only the latest, as written", len(rawGot))
		}
		// The latest metadata wins.
		var m2 esdb.StreamMetadata
		m2.SetMaxCount(1)
		if _, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, m2); err != nil {
			t.Fatal(err)
		}
		got, err = c.GetStreamMetadata(ctx, stream, esdb.ReadStreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if mc := got.MaxCount(); mc == nil || *mc != 1 || got.Acl() != nil {
			t.Errorf("after second write metadata = %+v", got)
		}
	})

	t.Run("maxCount", func(t *testing.T) {
		stream := newStream("maxcount")
		var m esdb.StreamMetadata
		m.SetMaxCount(2)
		if _, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, m); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, events(5, "x")...); err != nil {
			t.Fatal(err)
		}
		got, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{}, 100))
		if err != nil {
			t.Fatal(err)
		}
		if revs := revisions(got); len(revs) != 2 || revs[0] != 3 {
			t.Errorf("read with maxCount 2 = %v, want [3 4]", revs)
		}
		back, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 100))
		if err != nil {
			t.Fatal(err)
		}
		if revs := revisions(back); len(revs) != 2 || revs[0] != 4 {
			t.Errorf("backwards read with maxCount 2 = %v, want [4 3]", revs)
		}
		sub, err := c.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		evs, _ := readSub(t, sub, 0, true)
		if revs := revisions(evs); len(revs) != 2 || revs[0] != 3 {
			t.Errorf("subscription with maxCount 2 = %v, want [3 4]", revs)
		}
	})

	t.Run("truncateBefore", func(t *testing.T) {
		stream := newStream("tb")
		if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, events(5, "x")...); err != nil {
			t.Fatal(err)
		}
		var m esdb.StreamMetadata
		m.SetTruncateBefore(3)
		if _, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, m); err != nil {
			t.Fatal(err)
		}
		got, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{}, 100))
		if err != nil {
			t.Fatal(err)
		}
		if revs := revisions(got); len(revs) != 2 || revs[0] != 3 {
			t.Errorf("read with $tb 3 = %v, want [3 4]", revs)
		}
	})

	t.Run("maxAge", func(t *testing.T) {
		stream := newStream("maxage")
		if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, events(2, "x")...); err != nil {
			t.Fatal(err)
		}
		var m esdb.StreamMetadata
		m.SetMaxAge(time.Second)
		if _, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, m); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond)
		if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, events(1, "x")...); err != nil {
			t.Fatal(err)
		}
		got, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{}, 100))
		if err != nil {
			t.Fatal(err)
		}
		if revs := revisions(got); len(revs) != 1 || revs[0] != 2 {
			t.Errorf("read with maxAge 1s = %v, want [2]", revs)
		}
	})
}

package eventstore

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
)

const (
	crashChildEnv = "EVENTSTORE_CRASH_CHILD_DIR"
	crashStreams  = 4
	crashWriters  = 16
)

// TestCrashChild is the child process of TestCrashRecovery: it serves the
// store in the given dir and appends from many goroutines, printing each
// acknowledged event, until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestCrashRecovery")
	}
	s, err := Start(context.Background(), Config{DataDir: dir, Logger: testLogger})
	if err != nil {
		fmt.Println("start failed:", err)
		os.Exit(3)
	}
	c := newClient(t, s.URL())
	var mu sync.Mutex // one line per write to stdout
	var wg sync.WaitGroup
	for w := 0; w < crashWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("crash-%d", w%crashStreams)
			for {
				n := 1 + rand.IntN(3)
				evs := events(n, "crash")
				res, err := c.AppendToStream(context.Background(), stream, esdb.AppendToStreamOptions{}, evs...)
				if err != nil {
					continue
				}
				first := res.NextExpectedVersion - uint64(n) + 1
				mu.Lock()
				for i, e := range evs {
					fmt.Printf("ack %s %d %s\n", stream, first+uint64(i), e.EventID)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

type ack struct {
	rev uint64
	id  uuid.UUID
}

// TestCrashRecovery kills a process that is appending concurrently with
// SIGKILL at a random moment, restarts the store on its data dir, and checks
// that every acknowledged append is there, in order, and that the store
// accepts new appends.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test re-executes the test binary")
	}
	t.Parallel()
	dir := t.TempDir()
	acks := map[string][]ack{}
	for round := 0; round < 2; round++ { // crash twice: recovery after recovery
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := time.Duration(300+rand.IntN(700)) * time.Millisecond
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		var timer <-chan time.Time
		n := 0
		for line := range lines {
			f := strings.Fields(line)
			if len(f) != 4 || f[0] != "ack" {
				continue
			}
			rev, _ := strconv.ParseUint(f[2], 10, 64)
			acks[f[1]] = append(acks[f[1]], ack{rev: rev, id: uuid.MustParse(f[3])})
			if n++; n == 1 {
				timer = time.After(killAfter)
			}
			select {
			case <-timer:
				_ = cmd.Process.Kill() // SIGKILL: no flush, no close
				timer = nil
			default:
			}
		}
		_ = cmd.Wait()
		if n == 0 {
			t.Fatalf("round %d: the child acknowledged nothing", round)
		}
		t.Logf("round %d: killed after %d acknowledged events", round, n)
		verifyAcks(t, dir, acks)
	}
}

func verifyAcks(t *testing.T, dir string, acks map[string][]ack) {
	t.Helper()
	s, err := Start(context.Background(), Config{DataDir: dir, Logger: testLogger})
	if err != nil {
		t.Fatalf("restart after kill: %v", err)
	}
	defer s.Close()
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	for stream, want := range acks {
		got, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{}, 1<<20))
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		byRev := map[uint64]uuid.UUID{}
		for i, e := range got {
			if e.OriginalEvent().EventNumber != uint64(i) {
				t.Fatalf("%s: event %d has revision %d (gap or disorder)", stream, i, e.OriginalEvent().EventNumber)
			}
			byRev[uint64(i)] = e.OriginalEvent().EventID
		}
		for _, a := range want {
			if id, ok := byRev[a.rev]; !ok || id != a.id {
				t.Fatalf("%s: acknowledged event %s at revision %d is missing after the crash", stream, a.id, a.rev)
			}
		}
	}
	all, err := collect(c.ReadAll(ctx, esdb.ReadAllOptions{}, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	next := map[string]uint64{}
	var last uint64
	for _, e := range all {
		r := e.OriginalEvent()
		if r.Position.Commit <= last {
			t.Fatalf("$all positions not ascending at %d", r.Position.Commit)
		}
		last = r.Position.Commit
		if r.EventNumber != next[r.StreamID] {
			t.Fatalf("$all holds %s@%d where %d was expected", r.StreamID, r.EventNumber, next[r.StreamID])
		}
		next[r.StreamID]++
	}
	stream := "crash-0"
	cur := next[stream]
	if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(cur - 1)}, events(1, "after")...); err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
	// Record it, so the next round checks it too.
	evs, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1))
	if err != nil {
		t.Fatal(err)
	}
	acks[stream] = append(acks[stream], ack{rev: cur, id: evs[0].OriginalEvent().EventID})
}

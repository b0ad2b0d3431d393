// Package distributed tests the distributed deployment as `make stack`
// runs it; its test binary is its own, so its processes and its time
// budget are apart from the other end-to-end tests.
package distributed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// The distributed deployment as `make stack` runs it: scripts/stack.sh
// starts its own Kafka and Redis, `troupe eventstore serve`, `troupe psp
// serve`, one `troupe serve` per component and the gateway, each a process
// of its own; `troupe load` goes through the gateway while components are
// killed with SIGKILL and started again.
//
// The stack gets a Kafka and a Redis of its own rather than the ones `make
// test` started: a platform uses the design's fixed topic and consumer-group
// names, so it cannot share a broker with the other tests' platforms.

// stackPorts finds n consecutive free loopback ports below the kernel's
// ephemeral range (32768 and up on Linux), where the many outgoing
// connections of the stack's own processes cannot take them first.
func stackPorts(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 200; try++ {
		base := 20000 + rand.IntN(12000-n)
		free := true
		for p := base; p < base+n && free; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				free = false
				continue
			}
			l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// distributedStack is a stack started by scripts/stack.sh.
type distributedStack struct {
	t   *testing.T
	dir string
	env []string
	bin string
}

// stackEnv is the environment of stack.sh: the test's own, without any
// TROUPE_* setting that would point the stack at other servers (the Kafka
// jars' cache dir excepted).
func stackEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TROUPE_") || strings.HasPrefix(kv, "TROUPE_CACHE_DIR=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func (s *distributedStack) script(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join("..", "..", "scripts", "stack.sh"), args...)
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// pid is the running pid of one of the stack's processes.
func (s *distributedStack) pid(name string) int {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "pids", name+".pid"))
	if err != nil {
		s.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		s.t.Fatal(err)
	}
	return pid
}

func startDistributedStack(t *testing.T) *distributedStack {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "troupe")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "..", "cmd", "troupe")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build troupe: %v\n%s", err, out)
	}
	// One block, so the ports cannot collide: Kafka (and its controller),
	// Redis, the gateway, then stack.sh's eight.
	kafka := stackPorts(t, 12)
	redis, gw, base := kafka+2, kafka+3, kafka+4
	s := &distributedStack{t: t, dir: dir, bin: bin, env: stackEnv(
		"TROUPE_BIN="+bin, "TROUPE_STACK_DIR="+dir, "TROUPE_STACK_PORT="+strconv.Itoa(base),
		"TROUPE_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(gw),
		"TROUPE_KAFKA_PORT="+strconv.Itoa(kafka), "TROUPE_REDIS_PORT="+strconv.Itoa(redis),
	)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if _, err := os.Stat(filepath.Join(dir, "stack.env")); err != nil {
			return // already down
		}
		if out, err := s.script(ctx, "down"); err != nil {
			t.Errorf("stack.sh down: %v\n%s", err, out)
		}
	})
	if out, err := s.script(ctx, "up"); err != nil {
		t.Fatalf("stack.sh up: %v\n%s", err, out)
	}
	return s
}

// loadRun is a `troupe load` subprocess.
type loadRun struct {
	out, errOut *syncBuffer
	done        chan struct{}
	err         error
}

// load starts `troupe load` against the stack's endpoints.json.
func (s *distributedStack) load(ctx context.Context, args ...string) *loadRun {
	args = append([]string{"load", "--data-dir", s.dir, "--output", "json"}, args...)
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = stackEnv()
	r := &loadRun{out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = r.out, r.errOut
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	return r
}

type loadOutcome struct {
	Placed    int `json:"placed"`
	NotPlaced int `json:"notPlaced"`
	Ended     int `json:"ended"`
	NotEnded  int `json:"notEnded"`
}

// check waits for the run and fails unless it exited 0 (which includes
// "invariants: ok") with every order placed and ended.
func (r *loadRun) check(t *testing.T, what string, orders int) {
	t.Helper()
	<-r.done
	if r.err != nil {
		t.Fatalf("%s: troupe load: %v\nstdout:\n%s\nstderr:\n%s", what, r.err, r.out.String(), r.errOut.String())
	}
	var got loadOutcome
	if err := json.Unmarshal([]byte(r.out.String()), &got); err != nil {
		t.Fatalf("%s: summary %q: %v", what, r.out.String(), err)
	}
	if got.Placed != orders || got.Ended != orders || got.NotPlaced != 0 || got.NotEnded != 0 {
		t.Fatalf("%s: %+v, want all %d placed and ended", what, got, orders)
	}
	t.Logf("%s: %s", what, r.out.String())
}

// ordersEnded is how many orders the read model counts as confirmed or
// cancelled, asked through the gateway.
func (s *distributedStack) ordersEnded(ctx context.Context) (int, error) {
	secret, err := os.ReadFile(filepath.Join(s.dir, "jwt.secret"))
	if err != nil {
		return 0, err
	}
	auth, err := httpapi.NewAuth(bytes.TrimSpace(secret))
	if err != nil {
		return 0, err
	}
	tok, err := auth.Issue("distributed-test", httpapi.RoleAdmin, time.Hour)
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "endpoints.json"))
	if err != nil {
		return 0, err
	}
	var ep endpoints
	if err := json.Unmarshal(b, &ep); err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ep.HTTP+"/api/stats/sales", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var stats struct{ OrdersConfirmed, OrdersCancelled int }
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /api/stats/sales: %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		return 0, err
	}
	return stats.OrdersConfirmed + stats.OrdersCancelled, nil
}

// waitGone waits until pid is no longer one of the stack's processes
// (exited, or a zombie with an empty command line).
func (s *distributedStack) waitGone(pid int) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(b, []byte(s.bin)) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("pid %d still running 30 s after SIGKILL", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitEnded waits until at least n orders have ended, so a kill lands
// mid-load; it asserts nothing about how long that takes.
func (s *distributedStack) waitEnded(ctx context.Context, r *loadRun, n int) {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		got, err := s.ordersEnded(ctx)
		if err == nil && got >= n {
			return
		}
		select {
		case <-r.done:
			s.t.Fatalf("load ended before %d orders had (last count %d, %v):\n%s\n%s", n, got, err, r.out.String(), r.errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d orders not ended in time (last count %d, %v)", n, got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDistributedStackUnderLoad: `make stack`'s topology serves `troupe
// load --orders 500` through the gateway with the invariants holding, again
// while ordering and then payments are killed with SIGKILL mid-load and
// started again, and `stack.sh down` leaves none of its processes behind.
func TestDistributedStackUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Kafka, Redis and nine processes: not with -short")
	}
	if os.Getenv("TROUPE_TEST_KAFKA_BROKERS") == "" {
		t.Skip("needs the real Kafka scripts/kafka.sh runs: set TROUPE_TEST_KAFKA_BROKERS (make test does)")
	}
	s := startDistributedStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	s.load(ctx, "--orders", "500").check(t, "steady", 500)

	before, err := s.ordersEnded(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run := s.load(ctx, "--orders", "500")
	for i, victim := range []string{"ordering", "payments"} {
		s.waitEnded(ctx, run, before+100*(i+1))
		pid := s.pid(victim)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %s (pid %d): %v", victim, pid, err)
		}
		// SIGKILL is delivered asynchronously: until the process is gone
		// stack.sh would find it still running and not start another.
		s.waitGone(pid)
		if o, err := s.script(ctx, "start", victim); err != nil {
			t.Fatalf("stack.sh start %s: %v\n%s", victim, err, o)
		}
		if s.pid(victim) == pid {
			t.Fatalf("%s still has pid %d after the restart", victim, pid)
		}
	}
	run.check(t, "ordering and payments killed mid-load", 500)

	var pids []int
	for _, name := range []string{"eventstore", "psp", "catalog", "ordering", "payments", "projections", "loyalty", "gateway"} {
		pids = append(pids, s.pid(name))
	}
	if o, err := s.script(ctx, "down"); err != nil {
		t.Fatalf("stack.sh down: %v\n%s", err, o)
	}
	for _, pid := range pids {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && bytes.Contains(b, []byte(s.bin)) {
			t.Errorf("pid %d (%s) still running after stack.sh down", pid, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}

// endpoints is <dir>/endpoints.json, as stack.sh writes it.
type endpoints struct {
	HTTP string `json:"http"`
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

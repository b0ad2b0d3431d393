package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tool commands are tested as a user runs them: the troupe binary as a
// subprocess, against a `troupe up` subprocess on the embedded servers.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

// TestMain removes the binary built for the subprocess tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// troupeBinary builds the troupe command once per test run and returns its
// path.
func troupeBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "troupe-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "troupe")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// platform is a `troupe up` subprocess.
type platform struct {
	DataDir string
	EP      endpoints
	cmd     *exec.Cmd
	out     *syncBuffer
	done    chan error
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

// startPlatform runs `troupe up` on a fresh data dir (or dataDir, when
// given, to restart on earlier data), waits until it is ready, and stops it
// with SIGINT when the test ends.
func startPlatform(t *testing.T, dataDir string, extra ...string) *platform {
	t.Helper()
	return startPlatformWith(t, troupeBinary(t), dataDir, extra...)
}

// startPlatformWith is startPlatform running the troupe binary bin.
func startPlatformWith(t *testing.T, bin, dataDir string, extra ...string) *platform {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	args := append([]string{"up", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(bin, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &platform{DataDir: dataDir, cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { p.Stop(t) })

	deadline := time.Now().Add(60 * time.Second)
	epPath := filepath.Join(dataDir, "endpoints.json")
	for {
		if b, err := os.ReadFile(epPath); err == nil && json.Unmarshal(b, &p.EP) == nil && p.EP.PID == cmd.Process.Pid {
			break
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("troupe up exited (%v):\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoints.json did not appear:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		resp, err := http.Get("http://" + p.EP.HTTP + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("troupe up not ready:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Output is what the platform printed so far.
func (p *platform) Output() string { return p.out.String() }

// Stop sends SIGINT and waits for a clean exit; it is safe to call twice.
func (p *platform) Stop(t testing.TB) {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("troupe up exited with %v:\n%s", err, p.out.String())
		}
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("troupe up did not stop within 20 s of SIGINT:\n%s", p.out.String())
	}
}

// runCLI runs the troupe binary with args (and, when p is not nil,
// --data-dir pointing at p), and returns its stdout, stderr and exit code.
func runCLI(t *testing.T, p *platform, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCLIWith(t, troupeBinary(t), 5*time.Minute, p, args...)
}

// runCLIWith is runCLI running the troupe binary bin, killed after timeout.
func runCLIWith(t *testing.T, bin string, timeout time.Duration, p *platform, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if p != nil {
		args = append(args, "--data-dir", p.DataDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run troupe %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// TestSecondUpOnOneDataDirRefused runs the platform as a subprocess and a
// second `troupe up` on its data dir, which must fail (exit 1) naming the
// data dir and the flag, and leave the first one serving.
func TestSecondUpOnOneDataDirRefused(t *testing.T) {
	p := startPlatform(t, "")
	_, stderr, code := runCLI(t, p, "up", "--http-addr", "127.0.0.1:0")
	if code != 1 || !bytes.Contains([]byte(stderr), []byte("in use")) || !bytes.Contains([]byte(stderr), []byte("--data-dir")) {
		t.Fatalf("second up: code %d, stderr %q", code, stderr)
	}
	resp, err := http.Get("http://" + p.EP.HTTP + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first platform after the refused second: readyz %d", resp.StatusCode)
	}
	p.Stop(t)
	if _, err := os.Stat(filepath.Join(p.DataDir, "endpoints.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("endpoints.json after stop: %v", err)
	}
}

// TestUpRestartRebuildsWithProgress: a restart keeps the events, and
// `troupe up` says how far the rebuild of the read models into the fresh
// miniredis has come, ending with the number of records it read.
func TestUpRestartRebuildsWithProgress(t *testing.T) {
	p := startPlatform(t, "")
	admin, stderr, code := runCLI(t, p, "token", "--admin")
	if code != 0 {
		t.Fatalf("token: %d %s", code, stderr)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.EP.HTTP+"/api/catalog/products",
		strings.NewReader(`{"sku":"RESTART-1","name":"Restart","priceCents":100}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(admin))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("list product: %d", resp.StatusCode)
	}
	waitFor(t, 30*time.Second, "the product in the read model", func() bool {
		r, err := http.Get("http://" + p.EP.HTTP + "/api/products/RESTART-1")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	})
	p.Stop(t)

	q := startPlatform(t, p.DataDir)
	waitFor(t, 30*time.Second, "the rebuild's last line", func() bool {
		return rebuiltLine.MatchString(q.Output())
	})
	if n, _ := strconv.Atoi(rebuiltLine.FindStringSubmatch(q.Output())[1]); n < 1 {
		t.Fatalf("rebuilt from %d records after a restart with events:\n%s", n, q.Output())
	}
	r, err := http.Get("http://" + q.EP.HTTP + "/api/products/RESTART-1")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("product after restart: %d", r.StatusCode)
	}
}

var rebuiltLine = regexp.MustCompile(`read model projections rebuilt from (\d+) records`)

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

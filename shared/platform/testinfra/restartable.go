package testinfra

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	embkafka "github.com/troupe-dev/troupe/embedded/kafka"
)

// RestartableKafka is a broker a test owns alone and may stop and start
// again (keeping its data) to simulate an outage. Never the shared broker:
// stopping that would break every test running beside it.
type RestartableKafka interface {
	// Brokers is the bootstrap list; it stays the same across restarts.
	Brokers() []string
	// Stop stops the broker, keeping its data.
	Stop() error
	// Start starts it again on the same address and data.
	Start() error
	// RestartCommand is a shell command that restarts the broker from
	// another process (for watermill's RestartServiceCommand), or nil when
	// the broker lives in this process.
	RestartCommand() []string
}

// ForEachRestartableKafka runs fn as a subtest against a dedicated broker of
// each kind: "real" (its own Apache Kafka process started by
// scripts/kafka.sh on a free port; only under `make test`, where the jars
// are cached) and "embedded" (kfake with a data dir).
func ForEachRestartableKafka(t *testing.T, fn func(t *testing.T, k RestartableKafka)) {
	t.Helper()
	t.Run(Real, func(t *testing.T) {
		if RealKafka() == nil {
			t.Skipf("%s is not set; `make test` runs this against a dedicated real broker", EnvKafkaBrokers)
		}
		fn(t, startScriptKafka(t))
	})
	t.Run(Embedded, func(t *testing.T) {
		fn(t, startEmbeddedRestartable(t))
	})
}

type scriptKafka struct {
	root string
	port int
}

func startScriptKafka(t *testing.T) *scriptKafka {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("testinfra: %v", err)
	}
	k := &scriptKafka{root: root, port: freePortPair(t)}
	if err := k.run("up"); err != nil {
		t.Fatalf("testinfra: dedicated kafka: %v", err)
	}
	t.Cleanup(func() { _ = k.run("down") })
	return k
}

func (k *scriptKafka) run(verb string) error {
	cmd := exec.Command(filepath.Join(k.root, "scripts", "kafka.sh"), verb)
	cmd.Env = append(os.Environ(), "TROUPE_KAFKA_PORT="+strconv.Itoa(k.port))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("scripts/kafka.sh %s on port %d: %w\n%s", verb, k.port, err, out)
	}
	return nil
}

func (k *scriptKafka) Brokers() []string { return []string{"127.0.0.1:" + strconv.Itoa(k.port)} }
func (k *scriptKafka) Stop() error       { return k.run("stop") }
func (k *scriptKafka) Start() error      { return k.run("start") }
func (k *scriptKafka) RestartCommand() []string {
	return []string{"env", "TROUPE_KAFKA_PORT=" + strconv.Itoa(k.port), filepath.Join(k.root, "scripts", "kafka.sh"), "restart"}
}

type embeddedRestartable struct {
	mu   sync.Mutex
	addr string
	dir  string
	srv  *embkafka.Server
}

func startEmbeddedRestartable(t *testing.T) *embeddedRestartable {
	t.Helper()
	k := &embeddedRestartable{dir: t.TempDir(), addr: "127.0.0.1:0"}
	if err := k.Start(); err != nil {
		t.Fatalf("testinfra: embedded kafka: %v", err)
	}
	k.addr = k.srv.Addr()
	t.Cleanup(func() { _ = k.Stop() })
	return k
}

func (k *embeddedRestartable) Brokers() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return []string{k.addr}
}

func (k *embeddedRestartable) RestartCommand() []string { return nil }

func (k *embeddedRestartable) Stop() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.srv == nil {
		return nil
	}
	err := k.srv.Close()
	k.srv = nil
	return err
}

func (k *embeddedRestartable) Start() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.srv != nil {
		return nil
	}
	srv, err := embkafka.Start(context.Background(), embkafka.Config{Addr: k.addr, DataDir: k.dir})
	if err != nil {
		return err
	}
	k.srv = srv
	return nil
}

// repoRoot finds the repository's top directory (the one holding go.work)
// from the test's working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work above the working directory")
		}
		dir = parent
	}
}

// freePortPair returns a port p such that p and p+1 (the broker and its
// controller) are both free right now.
func freePortPair(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testinfra: free port: %v", err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		_ = ln.Close()
		if err == nil {
			_ = ln2.Close()
			return p
		}
	}
	t.Fatal("testinfra: no free port pair found")
	return 0
}

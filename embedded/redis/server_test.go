package redis_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/troupe-dev/troupe/embedded/redis"
)

// TestServesRESP: the server answers a PING on its address.
func TestServesRESP(t *testing.T) {
	t.Parallel()
	srv, err := redis.Start(context.Background(), redis.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.URL(), "redis://127.0.0.1:") {
		t.Fatalf("URL = %q", srv.URL())
	}
	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING answered %q, %v", line, err)
	}
}

// TestTakenPortNamesTheAddress: a busy port fails at once, naming the
// address and the flag to change.
func TestTakenPortNamesTheAddress(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = redis.Start(context.Background(), redis.Config{Addr: ln.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) || !strings.Contains(err.Error(), "--redis-addr") {
		t.Fatalf("Start on a taken port: err = %v, want one naming %s and --redis-addr", err, ln.Addr())
	}
}

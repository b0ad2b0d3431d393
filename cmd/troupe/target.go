package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/spf13/pflag"

	"github.com/troupe-dev/troupe/cmd/troupe/stack"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// reachTimeout bounds how long a command waits for a server before it
// fails naming the address and the flag: the design's "within 5 s".
const reachTimeout = 5 * time.Second

// target is where a tool command finds the running platform: the URLs
// given by flag or environment, else <data dir>/endpoints.json written by
// `troupe up`.
type target struct {
	dataDir       string
	httpAddr      string
	eventstoreURL string
	kafkaBrokers  string
	redisURL      string
	jwtSecret     string

	loaded bool
	ep     endpoints
}

// addTargetFlags defines the flags that point a command at a platform.
func addTargetFlags(fs *pflag.FlagSet, t *target) {
	envFlag(fs, &t.dataDir, "data-dir", "./data", "data dir of a running `troupe up` (its endpoints.json and JWT secret)")
	envFlag(fs, &t.httpAddr, "http-addr", "", "the platform's API (host:port or URL); default: from endpoints.json")
	envFlag(fs, &t.eventstoreURL, "eventstore-url", "", "the event store; default: from endpoints.json")
	envFlag(fs, &t.kafkaBrokers, "kafka-brokers", "", "comma-separated Kafka brokers; default: from endpoints.json")
	envFlag(fs, &t.redisURL, "redis-url", "", "the read models' Redis; default: from endpoints.json")
	envFlag(fs, &t.jwtSecret, "jwt-secret", "", "HS256 signing secret; default: the data dir's generated one")
}

// errNoPlatform is returned when neither a URL nor endpoints.json says
// where the platform is.
func (t *target) errNoPlatform(flag string) error {
	return fmt.Errorf("no running platform: start one with `troupe up` (data dir %s) or pass %s", t.dataDir, flag)
}

// endpoints reads <data dir>/endpoints.json once; ok is false without it.
func (t *target) endpoints() (endpoints, bool) {
	if !t.loaded {
		t.loaded = true
		b, err := os.ReadFile(filepath.Join(t.dataDir, "endpoints.json"))
		if err == nil && json.Unmarshal(b, &t.ep) == nil {
			return t.ep, true
		}
		t.ep = endpoints{}
	}
	return t.ep, t.ep != (endpoints{})
}

// baseURL is the platform API's base URL ("http://host:port"), checked to
// accept connections within reachTimeout.
func (t *target) baseURL(ctx context.Context) (string, error) {
	addr := t.httpAddr
	if addr == "" {
		ep, ok := t.endpoints()
		if !ok || ep.HTTP == "" {
			return "", t.errNoPlatform("--http-addr")
		}
		addr = ep.HTTP
	}
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	base = strings.TrimRight(base, "/")
	host := strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	if !strings.Contains(host, ":") {
		if strings.HasPrefix(base, "https://") {
			host += ":443"
		} else {
			host += ":80"
		}
	}
	if err := dialCheck(ctx, host, "API", "--http-addr"); err != nil {
		return "", err
	}
	return base, nil
}

// eventStore dials the event store and checks that it answers within
// reachTimeout. The caller closes the client.
func (t *target) eventStore(ctx context.Context) (*esdb.Client, error) {
	url := t.eventstoreURL
	if url == "" {
		ep, ok := t.endpoints()
		if !ok || ep.EventStore == "" {
			return nil, t.errNoPlatform("--eventstore-url")
		}
		url = ep.EventStore
	}
	cfg, err := esdb.ParseConnectionString(url)
	if err != nil {
		return nil, usageError{fmt.Errorf("--eventstore-url %q: %v", url, err)}
	}
	addr := cfg.Address
	if addr == "" && len(cfg.GossipSeeds) > 0 {
		addr = cfg.GossipSeeds[0].String()
	}
	if addr != "" {
		if err := dialCheck(ctx, addr, "event store", "--eventstore-url"); err != nil {
			return nil, err
		}
	}
	return eventstore.Dial(url, nil)
}

// brokers is the Kafka bootstrap list, its first broker checked to accept
// connections within reachTimeout.
func (t *target) brokers(ctx context.Context) ([]string, error) {
	list := t.kafkaBrokers
	if list == "" {
		ep, ok := t.endpoints()
		if !ok || ep.Kafka == "" {
			return nil, t.errNoPlatform("--kafka-brokers")
		}
		list = ep.Kafka
	}
	bs := strings.Split(list, ",")
	var errs []error
	for _, b := range bs {
		err := dialCheck(ctx, b, "Kafka", "--kafka-brokers")
		if err == nil {
			return bs, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// redis is the read models' Redis URL, checked to accept connections
// within reachTimeout.
func (t *target) redis(ctx context.Context) (string, error) {
	url := t.redisURL
	if url == "" {
		ep, ok := t.endpoints()
		if !ok || ep.Redis == "" {
			return "", t.errNoPlatform("--redis-url")
		}
		url = ep.Redis
	}
	host := strings.TrimPrefix(strings.TrimPrefix(url, "redis://"), "rediss://")
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	if err := dialCheck(ctx, host, "Redis", "--redis-url"); err != nil {
		return "", err
	}
	return url, nil
}

// auth signs tokens with --jwt-secret, else the data dir's generated
// secret.
func (t *target) auth() (*httpapi.Auth, error) {
	secret := []byte(t.jwtSecret)
	if len(secret) == 0 {
		path := filepath.Join(t.dataDir, stack.SecretFile)
		b, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("no JWT secret: %s does not exist; start the platform with `troupe up` or pass --jwt-secret", path)
			}
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		secret = []byte(strings.TrimSpace(string(b)))
	}
	a, err := httpapi.NewAuth(secret)
	if err != nil {
		return nil, usageError{fmt.Errorf("--jwt-secret: %v", err)}
	}
	return a, nil
}

// adminToken is a short-lived admin token for the platform's admin API.
func (t *target) adminToken() (string, error) {
	a, err := t.auth()
	if err != nil {
		return "", err
	}
	return a.Issue("troupe-cli", httpapi.RoleAdmin, time.Hour)
}

// dialCheck fails, naming the address and the flag, when nothing accepts a
// TCP connection at addr within reachTimeout.
func dialCheck(ctx context.Context, addr, what, flag string) error {
	d := net.Dialer{Timeout: reachTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot reach the %s at %s: %v (is the platform running? change it with %s)", what, addr, unwrapNet(err), flag)
	}
	return conn.Close()
}

func unwrapNet(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// apiClient is the HTTP client of the tool commands; its timeout is far
// above any single admin call's normal duration.
var apiClient = &http.Client{Timeout: 60 * time.Second}

// outputFlag defines --output (text or json) on a listing command.
func outputFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "output", "text", "output format: text or json")
}

// checkOutput rejects an --output value other than text or json.
func checkOutput(v string) error {
	if v != "text" && v != "json" {
		return usageError{fmt.Errorf("--output %q: want text or json", v)}
	}
	return nil
}

package main

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// Docker cannot run where the tests run, so compose.yaml is checked
// against the CLI itself: every troupe service's command parses in the
// cobra tree as a runnable command, every TROUPE_* variable it sets is one
// that command reads, every setting the command requires is given, every
// host a service points at is a service, and every component of `troupe
// serve` runs.

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Restart     string            `yaml:"restart"`
	Profiles    []string          `yaml:"profiles"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

func readCompose(t *testing.T) map[string]composeService {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if len(f.Services) == 0 {
		t.Fatal("compose.yaml has no services")
	}
	return f.Services
}

var (
	envRef      = regexp.MustCompile(`TROUPE_[A-Z0-9_]+`)
	interpolate = regexp.MustCompile(`\$\{([A-Z0-9_]+)(:?[-?])?([^}]*)\}`)
)

// readsEnv is every TROUPE_* variable cmd reads, as its flags' usages and
// its help name them (envFlag writes "(env TROUPE_X)" into the usage).
func readsEnv(cmd *cobra.Command) map[string]bool {
	env := map[string]bool{}
	for _, s := range envRef.FindAllString(cmd.Long, -1) {
		env[s] = true
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		for _, s := range envRef.FindAllString(f.Usage, -1) {
			env[s] = true
		}
	})
	return env
}

// resolved is a compose value as it runs when no variable is set in the
// shell: ${VAR:-default} gives the default, ${VAR} nothing, and ${VAR:?msg}
// a placeholder, since compose refuses to start without VAR.
func resolved(v string) string {
	return interpolate.ReplaceAllStringFunc(v, func(m string) string {
		sub := interpolate.FindStringSubmatch(m)
		switch strings.TrimPrefix(sub[2], ":") {
		case "-":
			return sub[3]
		case "?":
			return "<required>"
		}
		return ""
	})
}

// TestComposeMatchesCLI checks compose.yaml service by service.
func TestComposeMatchesCLI(t *testing.T) {
	services := readCompose(t)
	served := map[string]bool{}
	for name, svc := range services {
		t.Run(name, func(t *testing.T) {
			if svc.Restart != "unless-stopped" {
				t.Errorf("restart %q, want unless-stopped", svc.Restart)
			}
			if svc.Healthcheck == nil || len(svc.Healthcheck.Test) == 0 {
				t.Errorf("no health check")
			}
			for k, v := range svc.Environment {
				for _, host := range hostsIn(k, resolved(v)) {
					if _, ok := services[host]; !ok {
						t.Errorf("%s=%s points at %q, which is not a service", k, v, host)
					}
				}
			}
			if svc.Build == nil {
				return // an infrastructure image, not troupe
			}
			if len(svc.Command) == 0 {
				t.Fatal("a troupe service without a command")
			}
			if hc := strings.Join(svc.Healthcheck.Test, " "); !strings.Contains(hc, "/readyz") && svc.Command[0] != "psp" {
				t.Errorf("health check %q does not probe /readyz", hc)
			}
			root := newRootCmd()
			cmd, rest, err := root.Find(svc.Command)
			if err != nil || cmd == root || !cmd.Runnable() {
				t.Fatalf("command %q is not a runnable troupe command (%v)", svc.Command, err)
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Fatalf("command %q: %v", svc.Command, err)
			}
			if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
				t.Fatalf("command %q: %v", svc.Command, err)
			}
			if cmd.Parent() != nil && cmd.Parent().Name() == "serve" {
				served[cmd.Name()] = true
			}
			reads := readsEnv(cmd)
			for k := range svc.Environment {
				if !reads[k] {
					t.Errorf("%s is not read by `%s` (it reads %v)", k, cmd.CommandPath(), keys(reads))
				}
			}
			// Every setting the command requires is given by flag or
			// environment.
			cmd.Flags().VisitAll(func(f *pflag.Flag) {
				if !strings.Contains(f.Usage, "(required)") || f.Changed {
					return
				}
				for _, env := range envRef.FindAllString(f.Usage, -1) {
					if resolved(svc.Environment[env]) != "" {
						return
					}
				}
				t.Errorf("--%s is required by `%s` and not given", f.Name, cmd.CommandPath())
			})
		})
	}

	serve, _, err := newRootCmd().Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	var components []string
	for _, c := range serve.Commands() {
		if c.IsAvailableCommand() {
			components = append(components, c.Name())
		}
	}
	for _, want := range []string{"catalog", "ordering", "payments", "projections", "loyalty", "webhook", "gateway"} {
		if !slices.Contains(components, want) {
			t.Errorf("`troupe serve %s` (DESIGN.md) is not a command; serve has %v", want, components)
		}
	}
	for _, c := range components {
		if !served[c] {
			t.Errorf("no service of compose.yaml runs `troupe serve %s`", c)
		}
	}
}

// hostsIn is the hosts a URL-like or broker-list setting points at.
func hostsIn(key, v string) []string {
	if v == "" || (!strings.HasSuffix(key, "_URL") && key != "TROUPE_KAFKA_BROKERS") {
		return nil
	}
	var hosts []string
	for _, item := range strings.Split(v, ",") {
		if !strings.Contains(item, "://") {
			item = "tcp://" + item
		}
		u, err := url.Parse(item)
		if err != nil || u.Hostname() == "" {
			hosts = append(hosts, item)
			continue
		}
		hosts = append(hosts, u.Hostname())
	}
	return hosts
}

func keys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

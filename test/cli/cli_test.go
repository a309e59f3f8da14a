// Package cli tests the command line of every binary agentobs ships, built
// as the Makefile builds them: -version, -h and help, and that an unknown
// command, flag or argument exits 2 with a hint before anything starts.
package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentobs/agentobs/test/harness"
)

// binaries and their subcommands (nil: none).
var binaries = map[string]struct {
	pkg      string
	commands []string
}{
	"agent":    {"./agent", []string{"serve", "loadgen"}},
	"shipper":  {"./shipper", nil},
	"indexer":  {"./indexer", []string{"run", "trace", "session", "audit", "replay"}},
	"demo":     {"./cmd/demo", nil},
	"amctl":    {"./cmd/amctl", []string{"alerts", "silence", "expire"}},
	"rulelint": {"./cmd/rulelint", nil},
	"flbchunk": {"./collector/cmd/flbchunk", nil},
}

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agentobs-cli")
	if err != nil {
		panic(err)
	}
	bin = dir
	var pkgs []string
	for _, b := range binaries {
		pkgs = append(pkgs, b.pkg)
	}
	// -buildvcs=auto as in the Makefile: the commit is stamped when the
	// checkout has its .git directory.
	build := exec.Command("go", append([]string{"build", "-buildvcs=auto", "-o", dir + "/"}, pkgs...)...)
	build.Dir = harness.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	// A guard against a binary that started after all (it would run until
	// killed), not a measured threshold.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s %v: %v (it started instead of refusing?)\nstderr: %s", name, args, err, r.stderr)
	}
	return r
}

func TestVersion(t *testing.T) {
	head := ""
	if fi, err := os.Stat(filepath.Join(harness.RepoRoot(), ".git")); err == nil && fi.IsDir() {
		out, err := exec.Command("git", "-C", harness.RepoRoot(), "rev-parse", "HEAD").Output()
		if err == nil {
			head = strings.TrimSpace(string(out))
		}
	}
	for name := range binaries {
		for _, args := range [][]string{{"-version"}, {"--version"}, {"version"}} {
			r := run(t, nil, name, args...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, name+" ") || !strings.Contains(r.stdout, runtime.Version()) ||
				!strings.Contains(r.stdout, "(commit ") {
				t.Errorf("%s %v: exit %d, stdout %q, stderr %q; want \"%s <version> (commit …) %s\"", name, args, r.code, r.stdout, r.stderr, name, runtime.Version())
			}
			if head != "" && !strings.Contains(r.stdout, head) {
				t.Errorf("%s %v = %q, want the commit %s", name, args, r.stdout, head)
			}
		}
	}
}

func TestHelpListsCommands(t *testing.T) {
	for name, b := range binaries {
		for _, args := range [][]string{{"-h"}, {"-help"}, {"help"}} {
			r := run(t, nil, name, args...)
			if r.code != 0 || !strings.Contains(r.stdout, "Usage: "+name) {
				t.Errorf("%s %v: exit %d, stdout %.200q, stderr %q", name, args, r.code, r.stdout, r.stderr)
				continue
			}
			for _, c := range b.commands {
				if !strings.Contains(r.stdout, "\n  "+c) {
					t.Errorf("%s %v does not list the command %q:\n%s", name, args, c, r.stdout)
				}
			}
		}
	}
	// A command's -h lists the commands and that command's flags.
	r := run(t, nil, "indexer", "audit", "-h")
	if r.code != 0 || !strings.Contains(r.stdout, "replay") || !strings.Contains(r.stdout, "-grace") {
		t.Errorf("indexer audit -h: exit %d\n%s", r.code, r.stdout)
	}
}

// sink is a TCP listener standing in for Kafka and Elasticsearch: a binary
// that started would connect to it.
func sink(t *testing.T) (addr string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), conns
}

func TestUnknownCommandsFlagsAndArgumentsStartNothing(t *testing.T) {
	addr, conns := sink(t)
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	http := fmt.Sprintf("127.0.0.1:%d", port)
	env := []string{"INDEXER_KAFKA_BROKERS=" + addr, "INDEXER_ES_ADDRESSES=http://" + addr, "INDEXER_HTTP_ADDR=" + http,
		"SHIPPER_KAFKA_BROKERS=" + addr, "SHIPPER_HTTP_ADDR=" + http, "SHIPPER_STDIN=true", "AGENT_HTTP_ADDR=" + http,
		"ALERTMANAGER_URL=http://" + addr}
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"indexer", []string{"rnu"}, `unknown command "rnu" (did you mean "run"?)`},
		{"indexer", []string{"typo"}, `unknown command "typo"`},
		{"indexer", []string{"-nope"}, "flag provided but not defined: -nope"},
		{"indexer", []string{"run", "extra"}, `unexpected argument "extra"`},
		{"indexer", []string{"-log.level", "info", "typo"}, `unexpected argument "typo"`},
		{"indexer", []string{"trace"}, "usage: indexer trace"},
		{"shipper", []string{"typo"}, `unexpected argument "typo"`},
		{"shipper", []string{"-nope"}, "flag provided but not defined: -nope"},
		{"agent", []string{"serv"}, `unknown command "serv" (did you mean "serve"?)`},
		{"agent", []string{"serve", "-nope"}, "flag provided but not defined: -nope"},
		{"agent", []string{"loadgen", "stray"}, `unexpected argument "stray"`},
		{"demo", []string{"typo"}, `unexpected argument "typo"`},
		{"demo", []string{"-nope"}, "flag provided but not defined: -nope"},
		{"amctl", []string{"alert"}, `unknown command "alert" (did you mean "alerts"?)`},
		{"amctl", []string{"-nope", "alerts"}, "flag provided but not defined: -nope"},
		{"amctl", []string{"alerts", "-nope"}, "flag provided but not defined: -nope"},
		{"rulelint", []string{"-nope"}, "flag provided but not defined: -nope"},
		{"flbchunk", []string{"typo"}, `unexpected argument "typo"`},
		{"flbchunk", []string{"-nope"}, "flag provided but not defined: -nope"},
	} {
		r := run(t, env, tc.name, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, " -h") {
			t.Errorf("%s %v: exit %d, stderr %q; want exit 2 with %q and a -h hint", tc.name, tc.args, r.code, r.stderr, tc.want)
		}
		if r.stdout != "" {
			t.Errorf("%s %v printed %q on stdout; an error prints only its hint", tc.name, tc.args, r.stdout)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections to the Kafka/Elasticsearch/Alertmanager address: a refused command line started something", n)
	}
	if c, err := net.Dial("tcp", http); err == nil {
		c.Close()
		t.Errorf("something listens on %s: a refused command line started a server", http)
	}
}

// TestAgentOldFlagSpellings: the agent's flags are dashed; the underscore
// spellings still work, on the command line and in -config files, with a
// slog warning naming the new spelling.
func TestAgentOldFlagSpellings(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "lines.log")
	r := run(t, nil, "agent", "loadgen", "-records", "3", "-rate", "0", "-record_size", "300", "-output", out, "-report", filepath.Join(dir, "report.json"))
	if r.code != 0 {
		t.Fatalf("agent loadgen -record_size: exit %d: %s", r.code, r.stderr)
	}
	var warn struct{ Level, Msg, Deprecated, Use string }
	if err := json.Unmarshal([]byte(strings.SplitN(r.stderr, "\n", 2)[0]), &warn); err != nil || warn.Level != "WARN" ||
		warn.Deprecated != "record_size" || warn.Use != "record-size" {
		t.Errorf("want one slog JSON warning naming record-size, got %q (%v)", r.stderr, err)
	}
	b, err := os.ReadFile(out)
	if err != nil || bytes.Count(b, []byte("\n")) != 3 {
		t.Fatalf("loadgen output: %v, %d lines", err, bytes.Count(b, []byte("\n")))
	}
	var rep struct{ Records, Bytes int64 }
	rb, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if json.Unmarshal(rb, &rep) != nil || rep.Records != 3 || rep.Bytes < 3*250 {
		t.Errorf("-record_size 300 not applied: report %s", rb)
	}

	cfg := filepath.Join(dir, "old.yaml")
	if err := os.WriteFile(cfg, []byte("env:\n  max_steps: 7\nqueue_size: 9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, nil, "agent", "-check", "-config", cfg, "-env.spike_rate", "0.25")
	for _, want := range []string{"env.max-steps=7", "queue-size=9", "env.spike-rate=0.25"} {
		if r.code != 0 || !strings.Contains(r.stdout, "\n"+want+"\n") {
			t.Errorf("agent -check with old spellings: exit %d, want %s in\n%s\n%s", r.code, want, r.stdout, r.stderr)
		}
	}
	if strings.Contains(r.stdout, "max_steps") || strings.Count(r.stderr, `"level":"WARN"`) != 3 {
		t.Errorf("-check lists an old spelling or the warnings are not one per use:\n%s\n%s", r.stdout, r.stderr)
	}
	// The new spellings are silent.
	if r = run(t, nil, "agent", "-check", "-env.max-steps", "4"); r.code != 0 || strings.Contains(r.stderr, "WARN") {
		t.Errorf("agent -check -env.max-steps: exit %d, stderr %q", r.code, r.stderr)
	}
}

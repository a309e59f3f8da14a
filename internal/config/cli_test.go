package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoute(t *testing.T) {
	var out bytes.Buffer
	c := CLI{Name: "indexer", Default: "run", Stdout: &out, Commands: []Command{{Name: "run"}, {Name: "trace"}}}
	f := func(args []string, wantCmd string, wantRest []string, wantCode int, wantText string) {
		t.Helper()
		out.Reset()
		cmd, rest, err := c.Route(args)
		var stderr bytes.Buffer
		if code := c.Exit(&stderr, err); code != wantCode || cmd != wantCmd || strings.Join(rest, " ") != strings.Join(wantRest, " ") ||
			!strings.Contains(out.String()+stderr.String(), wantText) {
			t.Errorf("Route(%q) = %q %q, exit %d, output %q; want %q %q, exit %d, %q", args, cmd, rest, code, out.String()+stderr.String(),
				wantCmd, wantRest, wantCode, wantText)
		}
	}
	f(nil, "run", nil, 0, "")
	f([]string{"-log.level", "debug"}, "run", []string{"-log.level", "debug"}, 0, "")
	f([]string{"trace", "abc"}, "trace", []string{"abc"}, 0, "")
	f([]string{"-version"}, "", nil, 0, "indexer ")
	f([]string{"trace", "--version"}, "", nil, 0, "indexer ")
	f([]string{"version"}, "", nil, 0, "(commit ")
	f([]string{"help"}, "run", []string{"-h"}, 0, "")
	f([]string{"rnu"}, "", nil, ExitUsage, `unknown command "rnu" (did you mean "run"?)`)
	f([]string{"zzzzzz"}, "", nil, ExitUsage, `unknown command "zzzzzz"; run indexer -h`)
	f([]string{"--", "-version"}, "run", []string{"--", "-version"}, 0, "")
}

func TestFlagSetHelpAndErrors(t *testing.T) {
	var out bytes.Buffer
	c := CLI{Name: "agent", Default: "serve", Stdout: &out, Commands: []Command{{Name: "serve", Summary: "run it"}, {Name: "loadgen"}}}
	fs := c.FlagSet("serve")
	fs.Int("workers", 4, "tasks at once")
	if err := Load(fs, []string{"-h"}, "AGENT"); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"Usage: agent <command>", "serve", "loadgen", "Flags of serve", "-workers"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	fs = c.FlagSet("serve")
	err := Load(fs, []string{"-nope"}, "AGENT")
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "-nope") || out.Len() != 0 {
		t.Errorf("unknown flag: %v (usage printed: %q)", err, out.String())
	}
	fs = c.FlagSet("serve")
	if err := Load(fs, []string{"stray"}, "AGENT"); err != nil || NoArgs(fs) == nil {
		t.Errorf("stray argument: Load %v, NoArgs %v", err, NoArgs(fs))
	}
}

func TestRenamed(t *testing.T) {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	steps := fs.Int("env.max-steps", 3, "steps")
	Renamed(fs, "env.max_steps", "env.max-steps")
	file := filepath.Join(t.TempDir(), "a.yaml")
	if err := os.WriteFile(file, []byte("env:\n  max_steps: 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AGENT_ENV_MAX_STEPS", "9")
	if err := Load(fs, []string{"-config", file}, "AGENT"); err != nil || *steps != 9 {
		t.Errorf("file then env: %v, steps %d, want 9 (env over file, env applied once)", err, *steps)
	}
	fs2 := flag.NewFlagSet("agent", flag.ContinueOnError)
	steps = fs2.Int("env.max-steps", 3, "steps")
	Renamed(fs2, "env.max_steps", "env.max-steps")
	if err := Load(fs2, []string{"-env.max_steps", "5"}, ""); err != nil || *steps != 5 {
		t.Errorf("old spelling on the command line: %v, steps %d", err, *steps)
	}
	if d := Dump(fs2); strings.Contains(d, "max_steps") || !strings.Contains(d, "env.max-steps=5") {
		t.Errorf("-check lists the old spelling or misses the new one:\n%s", d)
	}
}

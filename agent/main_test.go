package main

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/config"
)

// TestShippedConfigFilesLayer loads config/default.yaml with the production
// overlay: every key must be a known flag, and the overlay must change only
// what it names.
func TestShippedConfigFilesLayer(t *testing.T) {
	load := func(files string) serveConfig {
		t.Helper()
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var c serveConfig
		bindServe(fs, &c)
		if err := config.Load(fs, []string{"-config", files}, "AGENT_TEST_UNSET"); err != nil {
			t.Fatal(err)
		}
		if err := c.Agent.Validate(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	def := load("config/default.yaml")
	prod := load("config/default.yaml,config/production.yaml")
	load("config/default.yaml,config/demo.yaml")
	if def.Agent.Policy.Kind != "threshold" || prod.Agent.Policy.Kind != "epsilon_greedy" || prod.Agent.Workers != 16 {
		t.Fatalf("overlay not applied: %+v", prod.Agent)
	}
	if prod.Agent.Executor.LLMCall.Latency != 600*time.Millisecond || prod.Agent.Policy.Window != def.Agent.Policy.Window {
		t.Fatal("overlay changed keys it does not name")
	}
}

func TestReadyURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/readyz",
		"0.0.0.0:9":      "http://127.0.0.1:9/readyz",
		"10.1.2.3:8080":  "http://10.1.2.3:8080/readyz",
		"[::]:8080":      "http://127.0.0.1:8080/readyz",
		"localhost:8081": "http://localhost:8081/readyz",
	} {
		if got := readyURL(addr); got != want {
			t.Errorf("readyURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

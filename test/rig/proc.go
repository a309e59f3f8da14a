// Package rig runs the whole agentobs pipeline on one machine as real
// processes (agents, shipper, plugin host, indexer) against the local stack:
// the engine behind `make demo`, the end-to-end test and the benchmarks. It
// starts, watches and stops processes, scrapes their metrics, registers
// them with the local Prometheus, and counts what arrived in Elasticsearch.
package rig

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/agentobs/agentobs/test/harness"
)

// Proc is one child process (see test/harness).
type Proc = harness.Proc

// Build compiles the main packages into dir and returns their paths by
// base name (e.g. "indexer" → dir/indexer).
func Build(ctx context.Context, repo, dir string, pkgs ...string) (map[string]string, error) {
	out := map[string]string{}
	args := append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repo
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %v: %w\n%s", pkgs, err, b)
	}
	for _, p := range pkgs {
		out[filepath.Base(p)] = filepath.Join(dir, filepath.Base(p))
	}
	return out, nil
}

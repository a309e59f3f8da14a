// Command agent is agentobs's reference AI agent and its load generator.
//
//	agent [serve] [flags]   run the instrumented agent (the default)
//	agent loadgen [flags]   write simulated fleet logs at a target rate
//
// Both read flags, AGENT_* / LOADGEN_* environment variables and layered
// YAML files (-config config/default.yaml,config/production.yaml); -check
// validates and prints the configuration. `agent serve -help` lists flags.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/loadgen"
	"github.com/agentobs/agentobs/internal/telemetry"
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "loadgen") {
		cmd, args = args[0], args[1:]
	}
	var err error
	if cmd == "loadgen" {
		err = runLoadgen(args)
	} else {
		err = runServe(args)
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent "+cmd+":", err)
		os.Exit(1)
	}
}

// runLoadgen: parse config → validate → run → report.
func runLoadgen(args []string) error {
	fs := flag.NewFlagSet("agent loadgen", flag.ContinueOnError)
	var c loadgenConfig
	bindLoadgen(fs, &c)
	if err := config.Load(fs, args, "LOADGEN"); err != nil {
		return err
	}
	if err := c.Gen.Validate(); err != nil {
		return err
	}
	if config.CheckRequested(fs) {
		fmt.Print(config.Dump(fs))
		return nil
	}
	ctx, stop := telemetry.SignalContext()
	defer stop()
	var rep loadgen.Report
	var err error
	if c.Output == "-" {
		rep, err = loadgen.Run(ctx, c.Gen, os.Stdout)
	} else {
		rep, err = loadgen.RunFile(ctx, c.Gen, c.Output)
	}
	if werr := writeReport(c.Report, rep); err == nil {
		err = werr
	}
	return err
}

func writeReport(path string, rep loadgen.Report) error {
	out := os.Stderr
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		defer f.Close()
		out = f
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

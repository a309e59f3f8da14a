// Command agent is agentobs's reference AI agent and its load generator.
//
//	agent [serve] [flags]   run the instrumented agent (the default)
//	agent loadgen [flags]   write simulated fleet logs at a target rate
//
// Both read flags, AGENT_* / LOADGEN_* environment variables and layered
// YAML files (-config config/default.yaml,config/production.yaml); -check
// validates and prints the configuration. `agent -h` lists the commands and
// serve's flags, `agent loadgen -h` loadgen's; -version prints the version.
// An unknown command, flag or argument exits 2 with a hint and starts
// nothing.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/loadgen"
	"github.com/agentobs/agentobs/internal/telemetry"
)

var cli = config.CLI{Name: "agent", Default: "serve", Stdout: os.Stdout,
	Summary: "the instrumented reference AI agent and its load generator",
	Commands: []config.Command{
		{Name: "serve", Summary: "run the instrumented agent"},
		{Name: "loadgen", Summary: "write simulated fleet logs at a target rate"},
	}}

func main() {
	cmd, args, err := cli.Route(os.Args[1:])
	if err == nil {
		if cmd == "loadgen" {
			err = runLoadgen(args)
		} else {
			err = runServe(args)
		}
	}
	os.Exit(cli.Exit(os.Stderr, err))
}

// runLoadgen: parse config → validate → run → report.
func runLoadgen(args []string) error {
	fs := cli.FlagSet("loadgen")
	var c loadgenConfig
	bindLoadgen(fs, &c)
	if err := config.Load(fs, args, "LOADGEN"); err != nil {
		return err
	}
	if err := config.NoArgs(fs); err != nil {
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

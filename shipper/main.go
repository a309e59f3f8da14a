// Command shipper is agentobs's standalone log shipper for hosts and
// sidecars without Fluent Bit: it tails files (with checkpoints), reads
// stdin and accepts HTTP NDJSON, and produces canonical records to Kafka
// with the same record core and producer as the collector plugin.
//
//	shipper -files.include '/var/log/containers/*.log' -kafka.brokers kafka:9092
//	some-agent | shipper -stdin -service some-agent
//
// Configuration: flags, SHIPPER_* environment variables and YAML files
// (-config); -check validates and prints it; -version prints the version,
// -h the flags. The shipper has no subcommands: a stray argument or an
// unknown flag exits 2 with a hint and starts nothing. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/telemetry"
	"github.com/agentobs/agentobs/shipper/app"
)

var cli = config.CLI{Name: "shipper", Stdout: os.Stdout,
	Summary: "tails files, reads stdin and accepts HTTP NDJSON, produces canonical records to Kafka"}

func main() {
	_, args, err := cli.Route(os.Args[1:])
	if err == nil {
		err = run(args)
	}
	os.Exit(cli.Exit(os.Stderr, err))
}

// run: parse config → validate → build → run → close.
func run(args []string) error {
	fs := cli.FlagSet("")
	cfg := app.DefaultConfig()
	cfg.RegisterFlags(fs)
	healthcheck := fs.Bool("healthcheck", false, "GET this shipper's own /readyz on http.addr and exit 0 if ready, 1 if not (for shell-less images)")
	pprof := fs.Bool("debug.pprof", false, "serve /debug/pprof on http.addr")
	if err := config.Load(fs, args, "SHIPPER"); err != nil {
		return err
	}
	if err := config.NoArgs(fs); err != nil {
		return err
	}
	if *healthcheck {
		return telemetry.HealthCheck("http://" + localAddr(cfg.HTTPAddr) + "/readyz")
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if config.CheckRequested(fs) {
		fmt.Print(config.Dump(fs))
		return nil
	}
	logger, err := telemetry.NewLogger(os.Stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	telemetry.ApplyMemoryLimit(cfg.EffectiveMemoryLimit(), logger)
	a, err := app.New(cfg, app.Settings{Logger: logger, Stdin: os.Stdin, EnablePprof: *pprof})
	if err != nil {
		return err
	}
	ctx, stop := telemetry.SignalContext()
	defer stop()
	runErr := a.Run(ctx)
	// A fresh context: the signal context is already done, the final flush
	// gets its own deadline.
	cctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(runErr, a.Close(cctx))
}

// localAddr turns a listen address (":9401", "0.0.0.0:9401") into one the
// healthcheck can dial.
func localAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

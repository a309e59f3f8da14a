// Command indexer consumes canonical records from Kafka in a consumer group
// and writes them to Elasticsearch exactly once (document id = event.id),
// keeps per-trace summaries, answers trace lookups and stores Alertmanager
// alerts. See README.md.
//
//	indexer [run] [flags]                    index (the default)
//	indexer trace [-json] <trace-id>         print a trace's summary and timeline
//	indexer session [-json] <session-id>     the same for an agent session / conversation
//	indexer audit [-since 1h] [-grace 2m] [-json]  per-producer loss check
//	indexer replay -from-dlq | -topic T [-since RFC3339] [-until RFC3339]
//	indexer -healthcheck                     GET the running indexer's /readyz
//	indexer -version | -h                    version (module, commit, Go) | commands and flags
//
// An unknown command, flag or argument exits 2 with a hint and starts nothing.
//
// Flags, INDEXER_* environment variables and -config YAML files configure
// every command; -check validates and prints the configuration.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/agentobs/agentobs/indexer/app"
	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/telemetry"
)

var cli = config.CLI{Name: "indexer", Default: "run", Stdout: os.Stdout,
	Summary: "Kafka → Elasticsearch exactly once, trace correlation, trace lookup API and UI",
	Commands: []config.Command{
		{Name: "run", Summary: "consume records and index them, serve the API, UI and metrics"},
		{Name: "trace", Args: "<trace-id>", Summary: "print a trace's summary and timeline"},
		{Name: "session", Args: "<session-id>", Summary: "the same for an agent session / conversation"},
		{Name: "audit", Summary: "per-producer loss check (-since, -grace)"},
		{Name: "replay", Summary: "re-index the dead-letter topic (-from-dlq) or a topic (-topic)"},
	}}

func main() {
	cmd, args, err := cli.Route(os.Args[1:])
	if err == nil {
		err = dispatch(cmd, args)
	}
	os.Exit(cli.Exit(os.Stderr, err))
}

// options are the flags every command shares, plus the command's own.
type options struct {
	cfg         app.Config
	healthcheck bool
	jsonOut     bool
	fromDLQ     bool
	topic       string
	since       string
	until       string
	size        int
	window      time.Duration
	grace       time.Duration
}

func dispatch(cmd string, args []string) error {
	o := options{cfg: app.DefaultConfig()}
	fs := cli.FlagSet(cmd)
	o.cfg.RegisterFlags(fs)
	fs.BoolVar(&o.healthcheck, "healthcheck", false, "GET http://<http.addr>/readyz and exit 0 when ready (for shell-less images)")
	switch cmd {
	case "trace", "session":
		fs.BoolVar(&o.jsonOut, "json", false, "print the lookup as JSON")
		fs.IntVar(&o.size, "size", 1000, "records per page fetched")
	case "audit":
		fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
		fs.DurationVar(&o.window, "since", time.Hour, "audit records of this long ago up to now minus -grace")
		fs.DurationVar(&o.grace, "grace", 2*time.Minute, "leave out records newer than this (still in flight)")
	case "replay":
		fs.BoolVar(&o.fromDLQ, "from-dlq", false, "re-index the dead-letter topic (overwriting quarantined versions)")
		fs.StringVar(&o.topic, "topic", "", "re-index this topic")
		fs.StringVar(&o.since, "since", "", "first record time (RFC 3339); default: the topic's start")
		fs.StringVar(&o.until, "until", "", "end time, exclusive (RFC 3339); default: the end at start")
	}
	if err := config.Load(fs, args, "INDEXER"); err != nil {
		return err
	}
	if cmd != "trace" && cmd != "session" {
		if err := config.NoArgs(fs); err != nil {
			return err // a misspelt command after flags must not start the indexer
		}
	} else if fs.NArg() != 1 {
		return config.Usagef("usage: indexer %s [-json] <id>; run indexer -h", cmd)
	}
	if err := o.cfg.Validate(); err != nil {
		return err
	}
	if config.CheckRequested(fs) {
		fmt.Print(config.Dump(fs))
		return nil
	}
	if o.healthcheck {
		return telemetry.HealthCheck("http://" + o.cfg.HTTPAddr + "/readyz")
	}
	logger, err := telemetry.NewLogger(os.Stderr, o.cfg.LogLevel)
	if err != nil {
		return err
	}
	if cmd != "run" {
		o.cfg.HTTPAddr = "" // one-shot commands serve nothing
	}
	telemetry.ApplyMemoryLimit(o.cfg.EffectiveMemoryLimit(), logger)
	a, err := app.New(o.cfg, app.Settings{Logger: logger})
	if err != nil {
		return err
	}
	defer a.Close(context.Background())
	ctx, stop := telemetry.SignalContext()
	defer stop()
	switch cmd {
	case "trace", "session":
		return lookup(ctx, a, cmd, fs.Args(), o)
	case "replay":
		return replay(ctx, a, o)
	case "audit":
		return runAudit(ctx, a, o)
	}
	if err := a.Listen(); err != nil {
		return err
	}
	return a.Run(ctx)
}

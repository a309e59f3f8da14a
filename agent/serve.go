package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agentobs/agentobs/agent/internal/agent"
	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/telemetry"
	"github.com/agentobs/agentobs/internal/tracing"
)

// runServe: parse config → validate → build → run → close.
func runServe(args []string) error {
	fs := cli.FlagSet("serve")
	var c serveConfig
	bindServe(fs, &c)
	if err := config.Load(fs, args, "AGENT"); err != nil {
		return err
	}
	if err := config.NoArgs(fs); err != nil {
		return err
	}
	if c.Healthcheck {
		return telemetry.HealthCheck(readyURL(c.HTTPAddr))
	}
	if err := errors.Join(c.Agent.Validate(), c.OTLP.Validate()); err != nil {
		return err
	}
	if config.CheckRequested(fs) {
		fmt.Print(config.Dump(fs))
		return nil
	}
	logger, err := telemetry.NewLogger(os.Stdout, c.LogLevel)
	if err != nil {
		return err
	}
	ctx, stop := telemetry.SignalContext()
	defer stop()
	reg := telemetry.NewRegistry()
	shutdownTracing, err := tracing.Setup(ctx, tracing.Service{
		Name: c.Agent.Name, InstanceID: c.Agent.ID, Version: c.Agent.Version, Component: "agent",
		Attributes: []attribute.KeyValue{attribute.String("agent.track", c.Agent.Track)},
	}, c.OTLP, reg)
	if err != nil {
		return err
	}
	a, err := agent.New(c.Agent, agent.Settings{Logger: logger, Registerer: reg})
	if err != nil {
		return err
	}
	srv := telemetry.NewServer(c.HTTPAddr, reg, logger.With("service.name", c.Agent.Name, "service.version", c.Agent.Version, "agent.track", c.Agent.Track, "gen_ai.agent.id", c.Agent.ID))
	srv.Handle("/tasks", a.Handler())
	// Ready exactly while the agent accepts tasks: not while starting,
	// not while draining.
	srv.AddReadyCheck("agent", func(context.Context) error {
		if !a.Accepting() {
			return errors.New("not accepting tasks")
		}
		return nil
	})
	if err := srv.ExportReadiness(reg, "agent"); err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	srv.SetReady(true)

	// Stop order: SIGTERM ends ctx → the agent stops accepting (readiness
	// fails) and drains in-flight tasks while the HTTP server still runs,
	// so peers waiting on ?wait=true get their answers → the server stops
	// → buffered spans are flushed. A failing server stops the agent.
	srvCtx, stopSrv := context.WithCancel(context.Background())
	defer stopSrv()
	srvDone := make(chan error, 1)
	go func() {
		err := srv.Run(srvCtx)
		stop()
		srvDone <- err
	}()
	go reloadOnSIGHUP(ctx, args, a, logger)
	runErr := a.Run(ctx)
	stopSrv()
	srvErr := <-srvDone

	flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(runErr, srvErr, shutdownTracing(flushCtx))
}

// reloadOnSIGHUP re-reads flags, environment and files on SIGHUP and
// applies the policy section; everything else needs a restart.
func reloadOnSIGHUP(ctx context.Context, args []string, a *agent.Agent, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		logger.Info("SIGHUP: reloading policy configuration")
		fs := flag.NewFlagSet("agent serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var c serveConfig
		bindServe(fs, &c)
		if err := config.Load(fs, args, "AGENT"); err != nil {
			a.ReloadFailed(err)
			continue
		}
		_ = a.ReloadPolicy(c.Agent.Policy)
	}
}

// readyURL is this agent's own /readyz, reached over loopback.
func readyURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + "/readyz"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz"
}

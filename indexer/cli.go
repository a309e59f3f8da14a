package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/agentobs/agentobs/indexer/app"
	"github.com/agentobs/agentobs/indexer/audit"
	"github.com/agentobs/agentobs/indexer/trace"
)

// lookup prints a trace or session straight from Elasticsearch (every page).
func lookup(ctx context.Context, a *app.App, cmd string, args []string, o options) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: indexer %s [-json] <id>", cmd)
	}
	get := a.Store().Trace
	if cmd == "session" {
		get = a.Store().Session
	}
	var all *trace.View
	page := trace.Page{Size: o.size}
	for {
		v, err := get(ctx, args[0], page)
		if errors.Is(err, trace.ErrNotFound) {
			return fmt.Errorf("%s %s: not found", cmd, args[0])
		}
		if err != nil {
			return err
		}
		if all == nil {
			all = v
		} else {
			all.Records = append(all.Records, v.Records...)
		}
		if v.NextPage == "" || len(v.Records) == 0 {
			break
		}
		page.After = v.NextPage
	}
	all.NextPage = ""
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(all)
	}
	trace.WriteTimeline(os.Stdout, all)
	return nil
}

func replay(ctx context.Context, a *app.App, o options) error {
	ro := app.ReplayOptions{FromDLQ: o.fromDLQ, Topic: o.topic}
	if o.fromDLQ == (o.topic != "") {
		return errors.New("give exactly one of -from-dlq and -topic")
	}
	var err error
	if o.since != "" {
		if ro.Since, err = time.Parse(time.RFC3339Nano, o.since); err != nil {
			return fmt.Errorf("-since: %w", err)
		}
	}
	if o.until != "" {
		if ro.Until, err = time.Parse(time.RFC3339Nano, o.until); err != nil {
			return fmt.Errorf("-until: %w", err)
		}
	}
	st, err := a.Replay(ctx, ro)
	fmt.Printf("indexed=%d duplicates=%d quarantined=%d failed=%d\n", st.Indexed, st.Duplicates, st.Quarantined, st.Failed)
	return err
}

// runAudit prints the loss audit; it fails (exit 1) when records are missing,
// so scripts and CI can use it as a check.
func runAudit(ctx context.Context, a *app.App, o options) error {
	r, err := a.Auditor().Run(ctx, o.window, o.grace)
	if err != nil {
		return err
	}
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		audit.WriteTable(os.Stdout, r)
	}
	if r.Missing > 0 {
		return fmt.Errorf("%d records missing", r.Missing)
	}
	return nil
}

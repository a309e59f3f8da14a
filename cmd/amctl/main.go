// Command amctl lists agentobs's firing alerts and silences a component
// around maintenance, through the Alertmanager API v2:
//
//	amctl [-url http://127.0.0.1:9093] alerts [-filter 'component="indexer"']...
//	amctl silence -component indexer -duration 30m -comment "rolling update" [-author me]
//	amctl expire SILENCE_ID
//	amctl -version | -h
//
// The URL defaults to $ALERTMANAGER_URL, else http://127.0.0.1:9093.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/agentobs/agentobs/alerts/amapi"
	"github.com/agentobs/agentobs/internal/config"
)

var cli = config.CLI{Name: "amctl", Stdout: os.Stdout, FlagsFirst: true, Summary: "list agentobs's firing alerts and silence components through the Alertmanager API v2",
	Commands: []config.Command{
		{Name: "alerts", Summary: "list firing alerts (-filter 'component=\"indexer\"', repeatable)"},
		{Name: "silence", Summary: "silence a component (-component, -duration, -comment, -author)"},
		{Name: "expire", Args: "<silence-id>", Summary: "expire a silence"},
	}}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(cli.Exit(os.Stderr, run(ctx, os.Args[1:], os.Stdout)))
}

type filters []string

func (f *filters) String() string     { return strings.Join(*f, ",") }
func (f *filters) Set(v string) error { *f = append(*f, v); return nil }

func run(ctx context.Context, args []string, out io.Writer) error {
	c := cli
	c.Stdout = out
	args, err := route(c, args)
	if err != nil {
		return err
	}
	fs := c.FlagSet("")
	def := os.Getenv("ALERTMANAGER_URL")
	if def == "" {
		def = "http://127.0.0.1:9093"
	}
	amURL := fs.String("url", def, "Alertmanager base URL ($ALERTMANAGER_URL)")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout of the API call")
	if err := c.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return config.Usagef("want a command: alerts, silence or expire; run amctl -h")
	}
	if err := c.Known(fs.Arg(0)); err != nil {
		return err // checked before any request
	}
	am, err := amapi.New(*amURL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	sub := flag.NewFlagSet("amctl "+cmd, flag.ContinueOnError)
	switch cmd {
	case "alerts":
		var f filters
		sub.Var(&f, "filter", `matcher such as component="indexer" (repeatable)`)
		if err := c.Parse(sub, rest); err != nil {
			return err
		}
		as, err := am.Alerts(ctx, f...)
		if err != nil {
			return err
		}
		for _, a := range as {
			fmt.Fprintf(out, "%s\t%s\tsince %s\t%s\n", a.Name, a.State, a.StartsAt.UTC().Format(time.RFC3339), amapi.LabelString(a.Labels))
		}
		fmt.Fprintf(out, "%d alerts\n", len(as))
		return nil
	case "silence":
		component := sub.String("component", "", "component to silence: agent, collector, shipper, indexer or pipeline")
		d := sub.Duration("duration", 30*time.Minute, "how long the silence lasts")
		comment := sub.String("comment", "", "why (shown to whoever looks at the silence)")
		author := sub.String("author", os.Getenv("USER"), "who")
		if err := c.Parse(sub, rest); err != nil {
			return err
		}
		id, err := am.SilenceComponent(ctx, *component, *d, *author, *comment)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, id)
		return nil
	case "expire":
		if err := c.Parse(sub, rest); err != nil {
			return err
		}
		if sub.NArg() != 1 {
			return errors.New("expire: want one silence id")
		}
		return am.Expire(ctx, sub.Arg(0))
	}
	return fmt.Errorf("unknown command %q: want alerts, silence or expire", cmd)
}

// route answers -version and help (the command comes after the global flags).
func route(c config.CLI, args []string) ([]string, error) {
	_, rest, err := c.Route(args)
	return rest, err
}

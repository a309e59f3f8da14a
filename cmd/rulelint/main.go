// Command rulelint lints Prometheus rule files against agentobs's
// conventions (see package alerts/lint). It exits 1 when a rule breaks one,
// printing one line per problem with the file, group, rule and the fix.
//
//	go run ./cmd/rulelint [flags] [rule file globs...]   (default alerts/rules/*.yml)
//	rulelint -version | -h
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/agentobs/agentobs/alerts/lint"
	"github.com/agentobs/agentobs/internal/config"
)

var cli = config.CLI{Name: "rulelint", Stdout: os.Stdout, Summary: "lint Prometheus rule files against agentobs's conventions"}

func main() {
	_, args, err := cli.Route(os.Args[1:])
	if err != nil {
		os.Exit(cli.Exit(os.Stderr, err))
	}
	cfg := lint.DefaultConfig()
	fs := cli.FlagSet("")
	fs.DurationVar(&cfg.ScrapeInterval, "scrape-interval", cfg.ScrapeInterval, "scrape interval the rules run with; every range must span at least 4 of them")
	fs.StringVar(&cfg.RunbookPrefix, "runbook-prefix", cfg.RunbookPrefix, "what every runbook_url starts with before #<alertname-lowercase>; empty: any URL with that anchor")
	fs.StringVar(&cfg.RunbookFile, "runbooks", "", "Markdown file that must hold a \"## <AlertName>\" section per alert (e.g. alerts/runbooks.md); empty: not checked")
	severities := fs.String("severities", strings.Join(cfg.Severities, ","), "allowed values of the severity label, comma separated")
	components := fs.String("components", strings.Join(cfg.Components, ","), "allowed values of the component label, comma separated")
	extra := fs.String("bounded-labels", "", "more labels allowed in by(), comma separated, beyond the built-in closed-set labels")
	if err := cli.Parse(fs, args); err != nil {
		os.Exit(cli.Exit(os.Stderr, err))
	}
	cfg.Severities = strings.Split(*severities, ",")
	cfg.Components = strings.Split(*components, ",")
	if *extra != "" {
		cfg.BoundedLabels = append(cfg.BoundedLabels, strings.Split(*extra, ",")...)
	}
	globs := fs.Args()
	if len(globs) == 0 {
		globs = []string{"alerts/rules/*.yml"}
	}
	rules, err := lint.Load(globs...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rulelint:", err)
		os.Exit(2)
	}
	problems := lint.Check(cfg, rules)
	for _, p := range problems {
		fmt.Println(p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "rulelint: %d problems in %d rules\n", len(problems), len(rules))
		os.Exit(1)
	}
	fmt.Printf("rulelint: %d rules OK\n", len(rules))
}

// Package lint checks Prometheus rule files against agentobs's conventions,
// beyond what promtool checks: names, required labels and annotations, a
// `for` on every alert, no rate() over a gauge, range windows of at least
// four scrape intervals, and only bounded labels in by(). It runs in
// `make lint` and in CI (cmd/rulelint), and users run it over their
// own copies of alerts/rules. Every problem names the file, the group, the
// rule and the fix.
package lint

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/agentobs/agentobs/alerts/promcheck"
)

// Rule is one recording or alerting rule with where it lives.
type Rule struct {
	File, Group string
	Record      string // recording rule name, or ""
	Alert       string // alert name, or ""
	Expr        string
	For         model.Duration
	Labels      map[string]string
	Annotations map[string]string
}

// Name is the rule's record or alert name.
func (r Rule) Name() string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Record
}

// Load parses every file matched by the globs with Prometheus's own rule
// file parser (legacy metric-name validation, as Prometheus 2 uses) and
// returns their rules in file order.
func Load(globs ...string) ([]Rule, error) {
	var files []string
	for _, g := range globs {
		m, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("glob %q: %w", g, err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no rule files match %v", globs)
	}
	sort.Strings(files)
	var out []Rule
	for _, f := range files {
		rgs, errs := rulefmt.ParseFile(f, false, model.LegacyValidation, promcheck.Parser, slog.New(slog.DiscardHandler))
		if len(errs) > 0 {
			return nil, fmt.Errorf("%s: %w", f, errs[0])
		}
		for _, g := range rgs.Groups {
			for _, r := range g.Rules {
				out = append(out, Rule{File: f, Group: g.Name, Record: r.Record, Alert: r.Alert, Expr: r.Expr,
					For: r.For, Labels: r.Labels, Annotations: r.Annotations})
			}
		}
	}
	return out, nil
}

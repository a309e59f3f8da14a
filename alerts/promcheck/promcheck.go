// Package promcheck answers two questions that every artefact built on
// agentobs metrics has to ask — the alert rules in alerts/rules, the Grafana
// dashboards in dashboards/: which metric names does a PromQL expression
// read, and which metric names do the components really export? A rule or a
// panel that reads a name nobody exports is silently empty forever, so the
// tests of both compare the two sets.
package promcheck

import (
	"fmt"
	"sort"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Parser is the PromQL parser with the default function set, shared by
// promcheck and the rule lint so they agree on what parses.
var Parser = parser.NewParser(parser.Options{})

// MetricNames returns the sorted, de-duplicated metric names expr selects.
// A selector without a literal name (only {__name__=~"…"} or no name at
// all) is an error: nothing could check that it matches an exported metric.
func MetricNames(expr string) ([]string, error) {
	e, err := Parser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	return NamesInExpr(e)
}

// NamesInExpr is MetricNames on an already parsed expression.
func NamesInExpr(e parser.Expr) ([]string, error) {
	seen := map[string]bool{}
	var bad []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if name := selectorName(vs); name != "" {
			seen[name] = true
		} else {
			bad = append(bad, vs.String())
		}
		return nil
	})
	if len(bad) > 0 {
		return nil, fmt.Errorf("selector without a literal metric name: %s", strings.Join(bad, ", "))
	}
	return sortedKeys(seen), nil
}

func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

package lint

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/agentobs/agentobs/alerts/promcheck"
)

// Config holds the conventions the rules are checked against.
type Config struct {
	// ScrapeInterval is the scrape interval the rules will run with; every
	// range window must span at least four of them so rate() always has
	// enough samples, even with one failed scrape. Default 15s.
	ScrapeInterval time.Duration
	// Severities is the closed vocabulary of the severity label. Default
	// critical, warning, info.
	Severities []string
	// Components is the closed vocabulary of the component label; the value
	// may also be "{{ $labels.component }}" when the expression carries it.
	// Default agent, collector, shipper, indexer, pipeline.
	Components []string
	// BoundedLabels are the labels allowed in by(): each has a closed, small
	// set of values. Ids (trace, task, user), paths and free text are not.
	BoundedLabels []string
	// RunbookPrefix is what every runbook_url starts with, before the
	// "#<alertname-lowercase>" anchor. Empty: any URL with that anchor.
	RunbookPrefix string
	// RunbookFile, when set, is the Markdown file whose "## <AlertName>"
	// headings the runbook_url anchors must point at.
	RunbookFile string
}

// DefaultConfig returns agentobs's conventions.
func DefaultConfig() Config {
	return Config{
		ScrapeInterval: 15 * time.Second,
		Severities:     []string{"critical", "warning", "info"},
		Components:     []string{"agent", "collector", "shipper", "indexer", "pipeline"},
		BoundedLabels: []string{"job", "instance", "component", "service", "namespace", "cluster", "pod", "container",
			"topic", "partition", "reason", "outcome", "result", "status", "code", "tool", "direction", "input",
			"output", "kind", "field", "flag", "rule", "action", "source", "policy", "choice", "le", "quantile",
			"severity", "slo", "alertname", "track", "version"},
		RunbookPrefix: "https://github.com/agentobs/agentobs/blob/main/alerts/runbooks.md",
	}
}

// Problem is one finding: where, what, and how to fix it.
type Problem struct {
	File, Group, Rule string
	Msg, Fix          string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s: group %q: rule %q: %s; fix: %s", p.File, p.Group, p.Rule, p.Msg, p.Fix)
}

var (
	alertName  = regexp.MustCompile(`^[A-Z][A-Za-z0-9]+$`)
	recordName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_]+:[a-zA-Z0-9_]+$`)
	// Functions whose argument must be a counter, and those for gauges.
	counterFuncs = []string{"rate", "irate", "increase", "resets"}
	gaugeFuncs   = []string{"delta", "idelta", "deriv", "predict_linear"}
)

const componentFromExpr = "{{ $labels.component }}"

// Check lints rules and returns every problem found, in rule order.
func Check(cfg Config, rules []Rule) []Problem {
	var runbook string
	if cfg.RunbookFile != "" {
		b, err := os.ReadFile(cfg.RunbookFile)
		if err != nil {
			return []Problem{{File: cfg.RunbookFile, Msg: err.Error(), Fix: "point -runbooks at the runbook Markdown file"}}
		}
		runbook = string(b)
	}
	var out []Problem
	for _, r := range rules {
		add := func(msg, fix string, args ...any) {
			out = append(out, Problem{File: r.File, Group: r.Group, Rule: r.Name(), Msg: fmt.Sprintf(msg, args...), Fix: fix})
		}
		if r.Alert != "" {
			checkAlert(cfg, r, runbook, add)
		} else {
			checkRecord(r, add)
		}
		checkExpr(cfg, r, add)
	}
	return out
}

type adder func(msg, fix string, args ...any)

func checkRecord(r Rule, add adder) {
	if !recordName.MatchString(r.Record) {
		add("recording rule name %q is not level:metric:operations", "name it like job:agentobs_indexer_records_consumed:rate5m (aggregation level, metric without _total, operations)", r.Record)
	}
}

func checkAlert(cfg Config, r Rule, runbook string, add adder) {
	if !alertName.MatchString(r.Alert) {
		add("alert name %q is not UpperCamelCase", "rename it like AgentobsIndexerConsumerLagHigh", r.Alert)
	}
	if r.For <= 0 {
		add("alert has no for", "add for: (e.g. 5m) so one bad evaluation does not page anyone")
	}
	sev := r.Labels["severity"]
	if !slices.Contains(cfg.Severities, sev) {
		add("severity label %q is not one of %v", "set labels.severity to one of "+strings.Join(cfg.Severities, ", "), sev, cfg.Severities)
	}
	comp := r.Labels["component"]
	if comp != componentFromExpr && !slices.Contains(cfg.Components, comp) {
		add("component label %q is not one of %v", "set labels.component to one of "+strings.Join(cfg.Components, ", ")+` or to "`+componentFromExpr+`" when the expression carries it`, comp, cfg.Components)
	}
	for _, a := range []string{"summary", "description", "runbook_url"} {
		if strings.TrimSpace(r.Annotations[a]) == "" {
			add("annotation %s is missing", "add annotations."+a, a)
		}
	}
	if d := r.Annotations["description"]; d != "" && !strings.Contains(d, "{{") {
		add("description shows no value", "template the values that matter into it, e.g. {{ $value | humanizePercentage }} and {{ $labels.job }}")
	}
	u := r.Annotations["runbook_url"]
	if u == "" {
		return
	}
	anchor := strings.ToLower(r.Alert)
	want := cfg.RunbookPrefix + "#" + anchor
	if cfg.RunbookPrefix != "" && u != want || cfg.RunbookPrefix == "" && !strings.HasSuffix(u, "#"+anchor) {
		add("runbook_url %q does not point at the alert's runbook section", "set it to "+want, u)
	}
	if runbook != "" && !strings.Contains(runbook, "\n## "+r.Alert+"\n") {
		add("the runbook has no section for this alert", "add a \"## "+r.Alert+"\" section (what it means, how to look, how to fix) to "+cfg.RunbookFile)
	}
}

func checkExpr(cfg Config, r Rule, add adder) {
	e, err := promcheck.Parser.ParseExpr(r.Expr)
	if err != nil {
		add("expression does not parse: %v", "fix the PromQL (promtool check rules shows the position)", err)
		return
	}
	if _, err := promcheck.NamesInExpr(e); err != nil {
		add("%v", "select metrics by literal name so the metric-exists check can verify them", err)
	}
	minRange := 4 * cfg.ScrapeInterval
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.MatrixSelector:
			if n.Range < minRange {
				add("range [%s] of %s is shorter than 4 scrape intervals (%s)", fmt.Sprintf("widen it to at least [%s]", minRange),
					n.Range, n.VectorSelector, minRange)
			}
		case *parser.SubqueryExpr:
			if n.Range < minRange {
				add("subquery range [%s] is shorter than 4 scrape intervals (%s)", fmt.Sprintf("widen it to at least [%s]", minRange), n.Range, minRange)
			}
		case *parser.Call:
			checkCall(n, add)
		case *parser.AggregateExpr:
			if !n.Without {
				for _, l := range n.Grouping {
					if !slices.Contains(cfg.BoundedLabels, l) {
						add("%s by (%s) keeps label %q, whose values are not a known closed set", "aggregate it away, or if its values really are few and fixed, add it to the bounded labels (-bounded-labels)",
							n.Op, strings.Join(n.Grouping, ", "), l)
					}
				}
			}
		}
		return nil
	})
}

func checkCall(c *parser.Call, add adder) {
	name := c.Func.Name
	isCounterFn, isGaugeFn := slices.Contains(counterFuncs, name), slices.Contains(gaugeFuncs, name)
	if !isCounterFn && !isGaugeFn || len(c.Args) == 0 {
		return
	}
	ms, ok := c.Args[0].(*parser.MatrixSelector)
	if !ok {
		return
	}
	vs, ok := ms.VectorSelector.(*parser.VectorSelector)
	if !ok || vs.Name == "" {
		return
	}
	switch {
	case isCounterFn && !counterLike(vs.Name):
		add("%s() over %s, which is not a counter", "use deriv() or delta() for a gauge; if it is a counter, its name must end in _total (or _count/_sum/_bucket)", name, vs.Name)
	case isGaugeFn && counterLike(vs.Name):
		add("%s() over the counter %s", "use rate() or increase(): they handle counter resets", name, vs.Name)
	}
}

// counterLike reports whether a series name is a counter by Prometheus
// naming conventions; recorded series (level:metric:ops) never are.
func counterLike(name string) bool {
	if strings.Contains(name, ":") {
		return false
	}
	for _, s := range []string{"_total", "_count", "_sum", "_bucket"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

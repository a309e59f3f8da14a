// Package schema owns the Elasticsearch side of the indexer's contract: the
// index names, the composable index template (and its component templates)
// for the log indices, the per-trace summary and alert indices, and the
// idempotent installation of all of them at start, adapted to the features
// the cluster has (data streams, ILM), which it detects.
package schema

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// Names are the indices the indexer writes and reads.
type Names struct {
	// IndexPattern names the log index of a record: the part in braces is a
	// Go time layout applied to the record's @timestamp (UTC). Default
	// "agentobs-logs-{2006.01.02}" (daily indices).
	IndexPattern string `yaml:"pattern"`
	// Alias covers every log index for reading; it also names the index
	// template. Default "agentobs-logs".
	Alias string `yaml:"alias"`
	// Traces is the per-trace summary index. Default "agentobs-traces".
	Traces string `yaml:"traces"`
	// Alerts is the alert event index. Default "agentobs-alerts".
	Alerts string `yaml:"alerts"`
	// Spans names the span index of a span record (OTLP spans), a pattern
	// like IndexPattern. Default "agentobs-spans-{2006.01.02}".
	Spans string `yaml:"spans"`
	// SpansAlias covers every span index for reading and names their
	// template. Default "agentobs-spans".
	SpansAlias string `yaml:"spans_alias"`
}

// SpanNames are the names the span indices are written and installed
// under: the log names with the span pattern and alias.
func (n Names) SpanNames() Names {
	s := n
	s.IndexPattern, s.Alias = n.Spans, n.SpansAlias
	return s
}

// DefaultNames returns the defaults documented on each field.
func DefaultNames() Names {
	return Names{IndexPattern: "agentobs-logs-{2006.01.02}", Alias: "agentobs-logs", Traces: "agentobs-traces", Alerts: "agentobs-alerts",
		Spans: "agentobs-spans-{2006.01.02}", SpansAlias: "agentobs-spans"}
}

// WithPrefix returns the default names with "agentobs" replaced by prefix
// (tests use a unique prefix per test).
func WithPrefix(prefix string) Names {
	return Names{IndexPattern: prefix + "-logs-{2006.01.02}", Alias: prefix + "-logs", Traces: prefix + "-traces", Alerts: prefix + "-alerts",
		Spans: prefix + "-spans-{2006.01.02}", SpansAlias: prefix + "-spans"}
}

// RegisterFlags binds n to flags named prefix+"pattern"… (prefix "index.").
func (n *Names) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&n.IndexPattern, prefix+"pattern", n.IndexPattern, "log index name; {layout} is a Go time layout applied to the record's @timestamp in UTC")
	fs.StringVar(&n.Alias, prefix+"alias", n.Alias, "alias over all log indices (reads); also the index template's name")
	fs.StringVar(&n.Traces, prefix+"traces", n.Traces, "per-trace summary index")
	fs.StringVar(&n.Alerts, prefix+"alerts", n.Alerts, "Alertmanager alert event index")
	fs.StringVar(&n.Spans, prefix+"spans", n.Spans, "span index name (OTLP spans); {layout} as in index.pattern")
	fs.StringVar(&n.SpansAlias, prefix+"spans-alias", n.SpansAlias, "alias over all span indices; also their template's name")
}

// Validate reports every problem at once.
func (n Names) Validate() error {
	var errs []error
	pre, layout, post, ok := n.split()
	if !ok {
		errs = append(errs, fmt.Errorf("index.pattern: %q needs one {time layout}, e.g. agentobs-logs-{2006.01.02}", n.IndexPattern))
	} else if strings.ContainsAny(pre+layout+post, `*?"<>|\ /,#:`) || pre != strings.ToLower(pre) {
		errs = append(errs, fmt.Errorf("index.pattern: %q is not a valid lowercase index name", n.IndexPattern))
	}
	for _, kv := range [][2]string{{"index.alias", n.Alias}, {"index.traces", n.Traces}, {"index.alerts", n.Alerts}} {
		if kv[1] == "" || kv[1] != strings.ToLower(kv[1]) || strings.ContainsAny(kv[1], `*?"<>|\ /,#:`) {
			errs = append(errs, fmt.Errorf("%s: %q is not a valid lowercase index name", kv[0], kv[1]))
		}
	}
	if ok && strings.HasPrefix(n.Alias, pre) {
		errs = append(errs, fmt.Errorf("index.alias: %q matches index.pattern %q; an alias cannot share the indices' names", n.Alias, n.IndexPattern))
	}
	if n.Spans != "" || n.SpansAlias != "" {
		sp := Names{IndexPattern: n.Spans, Alias: n.SpansAlias, Traces: n.Traces, Alerts: n.Alerts}
		if err := sp.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("index.spans / index.spans-alias: %w", err))
		}
		if sp.Glob() == n.Glob() || n.SpansAlias == n.Alias {
			errs = append(errs, errors.New("index.spans / index.spans-alias: must differ from index.pattern / index.alias"))
		}
	}
	return errors.Join(errs...)
}

func (n Names) split() (pre, layout, post string, ok bool) {
	i, j := strings.IndexByte(n.IndexPattern, '{'), strings.IndexByte(n.IndexPattern, '}')
	if i < 0 || j < i+2 {
		return "", "", "", false
	}
	return n.IndexPattern[:i], n.IndexPattern[i+1 : j], n.IndexPattern[j+1:], true
}

// Glob is the index pattern of the template: the pattern with * for the time.
func (n Names) Glob() string {
	pre, _, post, _ := n.split()
	return pre + "*" + post
}

// Index returns the log index for a record time.
func (n Names) Index(t time.Time) string {
	pre, layout, post, _ := n.split()
	return pre + t.UTC().Format(layout) + post
}

// Indexer caches Index for the last day seen, the hot-path call.
type Indexer struct {
	n         Names
	pre, post string
	layout    string
	lo, hi    int64 // unix seconds of the cached day [lo, hi)
	cached    string
}

// NewIndexer returns a cached index-name function for n.
func NewIndexer(n Names) *Indexer {
	pre, layout, post, _ := n.split()
	return &Indexer{n: n, pre: pre, post: post, layout: layout}
}

// Index returns the index for t. Not safe for concurrent use.
func (x *Indexer) Index(t time.Time) string {
	s := t.Unix()
	if s >= x.lo && s < x.hi && x.cached != "" {
		return x.cached
	}
	x.cached = x.pre + t.UTC().Format(x.layout) + x.post
	// Cache for the rest of the UTC hour: layouts finer than an hour are
	// unusual, and an hour is exact for every coarser one.
	x.lo = s - s%3600
	x.hi = x.lo + 3600
	return x.cached
}

package trace

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/agentobs/agentobs/internal/record"
)

// SpanTree is the span side of a trace lookup: the spans (from the span
// indices, written by the indexer's span pipeline) as a tree, each with the
// log records of the page that carry its span.id, plus what an on-call
// engineer asks first: services, root, duration, errors and the critical
// path. Records whose span.id matches no stored span stay in Unplaced (a
// trace with logs and no spans keeps working: no tree, every record
// unplaced).
type SpanTree struct {
	SpanCount  int         `json:"span_count"`
	Services   []string    `json:"services"`
	Root       string      `json:"root,omitempty"` // "service: name" of the longest root span
	DurationMS float64     `json:"duration_ms"`    // first span start → last span end
	Errors     []string    `json:"errors"`         // span ids with status error, in time order
	Critical   []string    `json:"critical_path"`  // span ids from the root down the child that ends last
	Roots      []*SpanNode `json:"roots"`          // spans without a stored parent, by start time
	Unplaced   int         `json:"unplaced_records"`
}

// SpanNode is one span with its children and its log records.
type SpanNode struct {
	SpanID     string            `json:"span.id"`
	ParentID   string            `json:"parent.id,omitempty"`
	Name       string            `json:"span.name"`
	Kind       string            `json:"span.kind,omitempty"`
	Service    string            `json:"service.name,omitempty"`
	Start      string            `json:"@timestamp"`
	End        string            `json:"event.end,omitempty"`
	DurationMS float64           `json:"duration_ms"`
	Status     string            `json:"span.status.code,omitempty"`
	Message    string            `json:"span.status.message,omitempty"`
	Error      bool              `json:"error"`
	Critical   bool              `json:"critical"`
	Records    []json.RawMessage `json:"records,omitempty"`
	Children   []*SpanNode       `json:"children,omitempty"`

	start, end time.Time
}

// spanDoc is what the lookup reads of a span document.
type spanDoc struct {
	SpanID   string `json:"span.id"`
	ParentID string `json:"parent.id"`
	Name     string `json:"span.name"`
	Kind     string `json:"span.kind"`
	Service  string `json:"service.name"`
	Start    string `json:"@timestamp"`
	End      string `json:"event.end"`
	Duration int64  `json:"event.duration"`
	Status   string `json:"span.status.code"`
	Message  string `json:"span.status.message"`
}

// maxSpans bounds the spans one lookup reads.
const maxSpans = MaxPageSize

// spans reads the stored spans of a trace, in start order.
func (s *Store) spans(ctx context.Context, traceID string) ([]spanDoc, error) {
	if s.names.SpansAlias == "" {
		return nil, nil
	}
	var res struct {
		Hits struct {
			Hits []struct {
				Source spanDoc `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	q := map[string]any{"query": map[string]any{"term": map[string]any{record.FieldTraceID: traceID}}, "size": maxSpans,
		"sort": []any{map[string]any{"@timestamp": map[string]any{"order": "asc", "format": "strict_date_optional_time_nanos"}}}}
	if err := s.do(ctx, http.MethodPost, "/"+s.names.SpansAlias+"/_search?ignore_unavailable=true&allow_no_indices=true", q, &res); err != nil {
		return nil, fmt.Errorf("search spans: %w", err)
	}
	out := make([]spanDoc, 0, len(res.Hits.Hits))
	for _, h := range res.Hits.Hits {
		out = append(out, h.Source)
	}
	return out, nil
}

// BuildSpanTree places records under their spans and derives the tree's
// facts; nil when there are no spans.
func BuildSpanTree(spans []spanDoc, records []json.RawMessage) *SpanTree {
	if len(spans) == 0 {
		return nil
	}
	t := &SpanTree{SpanCount: len(spans), Errors: []string{}, Critical: []string{}, Roots: []*SpanNode{}}
	byID := make(map[string]*SpanNode, len(spans))
	services := map[string]bool{}
	var first, last time.Time
	for _, d := range spans {
		n := &SpanNode{SpanID: d.SpanID, ParentID: d.ParentID, Name: d.Name, Kind: d.Kind, Service: d.Service, Start: d.Start,
			End: d.End, DurationMS: float64(d.Duration) / 1e6, Status: d.Status, Message: d.Message, Error: d.Status == "error"}
		n.start, _ = time.Parse(time.RFC3339Nano, d.Start)
		n.end, _ = time.Parse(time.RFC3339Nano, d.End)
		if n.end.IsZero() {
			n.end = n.start
		}
		if first.IsZero() || n.start.Before(first) {
			first = n.start
		}
		if n.end.After(last) {
			last = n.end
		}
		if d.Service != "" {
			services[d.Service] = true
		}
		if n.Error {
			t.Errors = append(t.Errors, n.SpanID)
		}
		byID[n.SpanID] = n
	}
	for _, d := range spans {
		n := byID[d.SpanID]
		if p := byID[d.ParentID]; p != nil && p != n {
			p.Children = append(p.Children, n)
		} else {
			t.Roots = append(t.Roots, n)
		}
	}
	for _, raw := range records {
		var r struct {
			SpanID string `json:"span.id"`
		}
		_ = json.Unmarshal(raw, &r)
		if n := byID[r.SpanID]; n != nil {
			n.Records = append(n.Records, raw)
		} else {
			t.Unplaced++
		}
	}
	for s := range services {
		t.Services = append(t.Services, s)
	}
	sort.Strings(t.Services)
	t.DurationMS = float64(last.Sub(first)) / 1e6
	// The root is the longest root span; the critical path follows, from
	// it, the child that ends last (what the parent waited for).
	var root *SpanNode
	for _, r := range t.Roots {
		if root == nil || r.end.Sub(r.start) > root.end.Sub(root.start) {
			root = r
		}
	}
	if root != nil {
		t.Root = strings.TrimPrefix(root.Service+": "+root.Name, ": ")
		for n := root; n != nil; {
			n.Critical = true
			t.Critical = append(t.Critical, n.SpanID)
			var next *SpanNode
			for _, c := range n.Children {
				if next == nil || c.end.After(next.end) {
					next = c
				}
			}
			n = next
		}
	}
	return t
}

// writeSpanTree prints the tree, one span per line, indented by depth, with
// its records under it.
func writeSpanTree(w io.Writer, t *SpanTree) {
	fmt.Fprintf(w, "spans=%d services=%s root=%q duration=%.1f ms errors=%d unplaced records=%d\n",
		t.SpanCount, strings.Join(t.Services, ","), t.Root, t.DurationMS, len(t.Errors), t.Unplaced)
	var walk func(n *SpanNode, depth int)
	walk = func(n *SpanNode, depth int) {
		mark := " "
		if n.Critical {
			mark = "*"
		}
		status := n.Status
		if n.Error && n.Message != "" {
			status += ": " + n.Message
		}
		fmt.Fprintf(w, "%s%s %-16s %s [%s %s] %.1f ms %s\n", mark, strings.Repeat("  ", depth), n.SpanID, n.Name, n.Service, n.Kind, n.DurationMS, status)
		for _, raw := range n.Records {
			var r map[string]any
			_ = json.Unmarshal(raw, &r)
			lvl, _ := r[record.FieldLevel].(string)
			msg, _ := r[record.FieldMessage].(string)
			fmt.Fprintf(w, " %s    · %-5s %s\n", strings.Repeat("  ", depth), lvl, msg)
		}
		for _, c := range n.Children {
			walk(c, depth+1)
		}
	}
	for _, r := range t.Roots {
		walk(r, 0)
	}
}

package ui

import (
	"slices"
	"strconv"
	"time"

	"github.com/agentobs/agentobs/indexer/trace"
)

// spanRow is one span of the waterfall: a bar placed on the trace's time
// axis (X and W in percent of it), indented by its depth in the tree, with
// its own log records under it (in time order, as the page numbers them).
type spanRow struct {
	ID, Parent, Name, Kind, Service string
	Anchor                          string
	Colour, Depth                   int
	X, W                            float64
	Offset, Duration                string
	Status, Message                 string
	Error, Critical                 bool
	Fields                          []field
	Records                         []row
	Marks                           []float64 // each record's place on the axis, percent
}

// waterfall is the span side of a trace page.
type waterfall struct {
	Spans    []spanRow
	Unplaced []row
	Ticks    []tick
	Errors   int
	Critical int
	Root     string
}

type tick struct {
	X     float64
	Label string
}

// maxDepth is the deepest indentation class the stylesheet has (deeper
// spans are drawn at it; the parent link in their fields stays exact).
const maxDepth = 15

// axis is the time range of a trace page: spans and records together, so a
// record logged outside every span still lands on the same scale.
func axis(v *trace.View, first, last time.Time) (time.Time, time.Time) {
	if v.Spans == nil {
		return first, last
	}
	var walk func(ns []*trace.SpanNode)
	walk = func(ns []*trace.SpanNode) {
		for _, n := range ns {
			s, e := parseTime(n.Start), parseTime(n.End)
			if !s.IsZero() && (first.IsZero() || s.Before(first)) {
				first = s
			}
			if e.After(last) {
				last = e
			}
			walk(n.Children)
		}
	}
	walk(v.Spans.Roots)
	return first, last
}

// buildWaterfall lays out v's span tree (depth first, children by start)
// over the rows already built for the page's records: each row goes under
// the span its span.id names, the others stay unplaced.
func buildWaterfall(v *trace.View, rows []row, first time.Time, span time.Duration, colour map[string]int) *waterfall {
	if v.Spans == nil {
		return nil
	}
	byspan := map[string][]row{}
	for _, r := range rows {
		byspan[r.SpanID] = append(byspan[r.SpanID], r)
	}
	pct := func(t time.Time) float64 {
		if span <= 0 || t.IsZero() {
			return 0
		}
		return min(100, max(0, 100*float64(t.Sub(first))/float64(span)))
	}
	w := &waterfall{Root: v.Spans.Root}
	placed := map[string]bool{}
	var walk func(ns []*trace.SpanNode, depth int)
	walk = func(ns []*trace.SpanNode, depth int) {
		for _, n := range ns {
			s, e := parseTime(n.Start), parseTime(n.End)
			if e.IsZero() {
				e = s
			}
			sr := spanRow{ID: n.SpanID, Parent: n.ParentID, Name: cleanKey(n.Name), Kind: n.Kind, Service: n.Service,
				Anchor: "s-" + n.SpanID, Colour: colour[n.Service], Depth: min(depth, maxDepth), X: pct(s),
				Duration: fmtDur(time.Duration(n.DurationMS * float64(time.Millisecond))), Status: n.Status,
				Error: n.Error, Critical: n.Critical, Records: byspan[n.SpanID]}
			sr.Message, _ = clean(n.Message, 1024)
			sr.W = max(pct(e)-sr.X, 0)
			if !s.IsZero() && !first.IsZero() {
				sr.Offset = "+" + fmtDur(s.Sub(first))
			}
			for _, r := range sr.Records {
				sr.Marks = append(sr.Marks, r.X)
			}
			sr.Fields = []field{{"span.id", n.SpanID}, {"parent.id", n.ParentID}, {"span.name", sr.Name},
				{"span.kind", n.Kind}, {"service.name", n.Service}, {"@timestamp", n.Start}, {"event.end", n.End},
				{"duration", sr.Duration}, {"span.status.code", n.Status}, {"span.status.message", sr.Message},
				{"depth", strconv.Itoa(depth)}, {"log records", strconv.Itoa(len(sr.Records))}}
			sr.Fields = slices.DeleteFunc(sr.Fields, func(f field) bool { return f.Value == "" })
			if n.Error {
				w.Errors++
			}
			if n.Critical {
				w.Critical++
			}
			placed[n.SpanID] = true
			w.Spans = append(w.Spans, sr)
			walk(n.Children, depth+1)
		}
	}
	walk(v.Spans.Roots, 0)
	for _, r := range rows {
		if r.SpanID == "" || !placed[r.SpanID] {
			w.Unplaced = append(w.Unplaced, r)
		}
	}
	for i := 0; i <= 4; i++ {
		w.Ticks = append(w.Ticks, tick{X: float64(i) * 25, Label: fmtDur(span * time.Duration(i) / 4)})
	}
	return w
}

// spanServices are the services of v's spans not yet in names, in the
// order first seen (so records and spans of one service share a colour).
func spanServices(v *trace.View, names []string) []string {
	if v.Spans == nil {
		return names
	}
	var walk func(ns []*trace.SpanNode)
	walk = func(ns []*trace.SpanNode) {
		for _, n := range ns {
			if n.Service != "" && !slices.Contains(names, n.Service) {
				names = append(names, n.Service)
			}
			walk(n.Children)
		}
	}
	walk(v.Spans.Roots)
	return names
}

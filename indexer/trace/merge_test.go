package trace

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

// A partial counts created records and the summary it is applied to adds
// them up: counts, worst level, sets, the time range and the root service
// (the earliest record's, even when a span starts earlier).
func TestPartialApply(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 5, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	var a, b Partial
	a.Add(Fact{Level: "info", Service: "planner", Version: "1", Session: "s1", Time: at(2 * time.Second)})
	a.Add(Fact{Level: "error", Service: "tool", Version: "1", Time: at(3 * time.Second)})
	b.Add(Fact{Level: "warn", Service: "llm", Version: "2", Conversation: "c1", Time: at(time.Second)})
	b.Add(Fact{Level: "fatal", Service: "llm", Time: at(5 * time.Second)})
	b.Add(Fact{Level: "info", Service: "planner"}) // no @timestamp: counted, no time
	a.Merge(&b)
	if a.Records != 5 || a.Errors != 2 || a.Worst != "fatal" || a.FirstService != "llm" || !a.First.Equal(at(time.Second)) || !a.Last.Equal(at(5*time.Second)) {
		t.Fatalf("merged partial: %+v", a)
	}

	// An existing summary whose range a span widened before the records.
	sum := Summary{TraceID: "t", RecordCount: 2, ErrorCount: 1, WorstLevel: "error", Services: []string{"gateway", "planner"},
		First: "2026-11-30T09:59:59.000000000Z", FirstRecord: "2026-11-30T10:00:01.500000000Z", RootService: "gateway",
		Last: "2026-11-30T10:00:04.000000000Z", SpanCount: 3}
	sum.apply(&a, "now")
	want := Summary{TraceID: "t", RecordCount: 7, ErrorCount: 3, WorstLevel: "fatal", Services: []string{"gateway", "llm", "planner", "tool"},
		Versions: []string{"1", "2"}, SessionIDs: []string{"s1"}, ConversationIDs: []string{"c1"},
		First: "2026-11-30T09:59:59.000000000Z", FirstRecord: "2026-11-30T10:00:01.000000005Z", RootService: "llm",
		Last: "2026-11-30T10:00:05.000000005Z", Timestamp: "2026-11-30T09:59:59.000000000Z", DurationMS: 6000.000005, SpanCount: 3, UpdatedAt: "now"}
	if !equalSummary(sum, want) {
		t.Fatalf("applied:\n got %+v\nwant %+v", sum, want)
	}

	// A later record keeps the root service; a new summary starts empty.
	var late Partial
	late.Add(Fact{Level: "info", Service: "tool", Time: at(10 * time.Second)})
	sum.apply(&late, "now")
	if sum.RootService != "llm" || sum.RecordCount != 8 || sum.Last != "2026-11-30T10:00:10.000000005Z" {
		t.Fatalf("after a later record: %+v", sum)
	}
	fresh := Summary{TraceID: "u"}
	fresh.apply(&late, "now")
	if fresh.RecordCount != 1 || fresh.RootService != "tool" || fresh.First != fresh.Last || fresh.DurationMS != 0 || fresh.Services == nil {
		t.Fatalf("new summary: %+v", fresh)
	}
}

// Sets stop at the derivation's sizes, so a merged summary never lists
// more than a derived one.
func TestPartialSetsBounded(t *testing.T) {
	var p Partial
	for i := range 50 {
		p.Add(Fact{Level: "info", Service: "svc", Session: string(rune('a' + i%26)), Version: string(rune('A' + i%26))})
	}
	if len(p.Sessions) != maxSessions || len(p.Versions) != maxVersions || len(p.Services) != 1 {
		t.Fatalf("sets: sessions %d versions %d services %d", len(p.Sessions), len(p.Versions), len(p.Services))
	}
}

// equalSummary compares two summaries field by field (DurationMS within a
// nanosecond's rounding).
func equalSummary(a, b Summary) bool {
	d := a.DurationMS - b.DurationMS
	a.DurationMS, b.DurationMS = 0, 0
	sl := func(x, y []string) bool { return slices.Equal(x, y) || len(x) == 0 && len(y) == 0 }
	ok := sl(a.Services, b.Services) && sl(a.Versions, b.Versions) && sl(a.SessionIDs, b.SessionIDs) && sl(a.ConversationIDs, b.ConversationIDs)
	a.Services, a.Versions, a.SessionIDs, a.ConversationIDs = nil, nil, nil, nil
	b.Services, b.Versions, b.SessionIDs, b.ConversationIDs = nil, nil, nil, nil
	return ok && reflect.DeepEqual(a, b) && d < 1e-6 && d > -1e-6
}

package record

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// addLogLines seeds f with every line of testdata/*.log.
func addLogLines(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.log")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			f.Add(line)
		}
	}
}

// FuzzParse: whatever the line, Parse does not panic, the encoded record is
// valid JSON, Peek reads it back with the same event and trace ids, and the
// policy keeps it valid. Seeds: testdata/fuzz/FuzzParse plus every fixture line.
func FuzzParse(f *testing.F) {
	addLogLines(f)
	policy, err := NewPolicy(PolicyConfig{Redact: true, MaxContentBytes: 64, MaxDepth: 3, MaxFields: 20}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		p := NewParser(ParseOptions{MaxLineBytes: 4096, Now: func() time.Time { return fixedNow }})
		var rec Record
		// Feed the line twice so a CRI partial gets joined with itself.
		if !p.Parse(line, &rec) && !p.Parse(line, &rec) {
			if !p.Flush(&rec) {
				t.Fatal("partial line neither completed nor flushable")
			}
		}
		if rec.EventID == "" {
			rec.EventID = "fuzz-event-id" // the edge stamps one; any non-empty id will do
		}
		check := func(stage string) {
			doc := rec.AppendJSON(nil)
			if !json.Valid(doc) {
				t.Fatalf("%s: invalid JSON for %q: %s", stage, line, doc)
			}
			m, err := Peek(doc)
			if err != nil {
				t.Fatalf("%s: Peek(%s): %v", stage, doc, err)
			}
			if m.EventID != rec.EventID || m.TraceID != rec.TraceID || m.SpanID != rec.SpanID || m.Message != rec.Message {
				t.Fatalf("%s: Peek mismatch: %+v vs %+v", stage, m, rec)
			}
			if !m.HasTimestamp || !m.Timestamp.Equal(rec.Timestamp) {
				t.Fatalf("%s: timestamp %v vs %v", stage, m.Timestamp, rec.Timestamp)
			}
			if _, err := Decode(doc); err != nil {
				t.Fatalf("%s: Decode: %v", stage, err)
			}
		}
		if rec.TraceID != "" && !ValidTraceID(rec.TraceID) {
			t.Fatalf("invalid trace id kept: %q", rec.TraceID)
		}
		check("parse")
		policy.Apply(&rec)
		check("policy")
	})
}

// FuzzReuseValues: a parser with ReuseValues, its memory dirtied by other
// lines first, gives every line the record (after the policy, encoded) a
// parser without it gives.
func FuzzReuseValues(f *testing.F) {
	addLogLines(f)
	policy, err := NewPolicy(PolicyConfig{Redact: true, MaxContentBytes: 64, MaxDepth: 3, MaxFields: 20}, nil)
	if err != nil {
		f.Fatal(err)
	}
	now := func() time.Time { return fixedNow }
	reuse := NewParser(ParseOptions{MaxLineBytes: 4096, Now: now, ReuseValues: true})
	var dirty Record
	f.Fuzz(func(t *testing.T, line []byte) {
		plain := NewParser(ParseOptions{MaxLineBytes: 4096, Now: now})
		encode := func(p *Parser) string {
			var rec Record
			if !p.Parse(line, &rec) && !p.Parse(line, &rec) && !p.Flush(&rec) {
				return "(pending)"
			}
			policy.Apply(&rec)
			return string(rec.AppendJSON(nil))
		}
		want := encode(plain)
		reuse.Parse(benchLines["slog1k"], &dirty)
		if got := encode(reuse); got != want {
			t.Fatalf("line %q:\nwithout ReuseValues %s\nwith it            %s", line, want, got)
		}
	})
}

package suite

import (
	"strings"
	"testing"
	"time"
)

func TestParseTop(t *testing.T) {
	out := `File: indexer
Type: cpu
Showing nodes accounting for 1.2s, 80% of 1.5s total
      flat  flat%   sum%        cum   cum%
     0.30s 20.00% 20.00%      0.40s 26.67%  runtime.memmove
     0.15s 10.00% 30.00%      0.90s 60.00%  github.com/x/bulk.(*Writer).Write
     0.10s  6.67% 36.67%      0.10s  6.67%  syscall.Syscall6
`
	got := parseTop(out, 2)
	want := []string{"runtime.memmove 20.00% flat (26.67% cum)", "github.com/x/bulk.(*Writer).Write 10.00% flat (60.00% cum)"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("parseTop = %q, want %q", got, want)
	}
}

func TestSumMetric(t *testing.T) {
	body := `# HELP agentobs_shipper_records_produced_total x
agentobs_shipper_records_produced_total{outcome="error"} 3
agentobs_shipper_records_produced_total{outcome="ok"} 1500
agentobs_shipper_records_produced_total_other 9
agentobs_indexer_documents_indexed_total 7e+06
`
	f := func(metric string, labels []string, want float64) {
		t.Helper()
		if got := sumMetric(strings.NewReader(body), metric, labels...); got != want {
			t.Errorf("%s %v = %v, want %v", metric, labels, got, want)
		}
	}
	f("agentobs_shipper_records_produced_total", []string{`outcome="ok"`}, 1500)
	f("agentobs_shipper_records_produced_total", nil, 1503)
	f("agentobs_indexer_documents_indexed_total", nil, 7e6)
	f("agentobs_missing", nil, 0)
}

func TestR5BudgetSaysWhatTheGoalAllowsPerRecord(t *testing.T) {
	const records = 1_000_000
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	// The 08:52 bench's figures: 82.1 CPU s per million end to end at 23 438/s; reference 36 029/s.
	r := e2eRun{Rate: 23438, Shipper: Usage{CPU: sec(14.7)}, Indexer: Usage{CPU: sec(14.0)}, Kafka: sec(3.8), ES: sec(49.6)}
	note := r5Budget(r, records, sec(45.6)/records, 36029, 0.85, 2)
	for _, want := range []string{"= 82.1,", "96 % busy", "at most 24361 records/s (measured 23438)",
		"means 30625 records/s", "at most 65.3 CPU s per million", "16.8 less than measured", "the reference spends 45.6"} {
		if !strings.Contains(note, want) {
			t.Errorf("note lacks %q:\n%s", want, note)
		}
	}
	// 16:50's run: the goal allowed more than the pipeline spent.
	met := e2eRun{Rate: 21673, Shipper: Usage{CPU: sec(11.6)}, Indexer: Usage{CPU: sec(16.4)}, Kafka: sec(3.3), ES: sec(56.5)}
	if note := r5Budget(met, records, sec(51.0)/records, 26136, 0.85, 2); !strings.Contains(note, "2.2 more than measured: CPU is not what holds it back") {
		t.Errorf("a budget the pipeline stays within should say so:\n%s", note)
	}
	if got := r5Budget(r, records, 0, 36029, 0.85, 2); got != "" {
		t.Errorf("without the reference's CPU the note should be empty, got %q", got)
	}
}

func TestR1BudgetSaysWhatTheIndexerSpendsBeyondABareLoad(t *testing.T) {
	const docs = 200_000
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	// The 14:12 bench's figures per million documents: indexer 13.3 + ES 46.8 at 31 346/s; reference 4.0 + 45.8 at 34 276/s.
	ix := indexRun{Rate: 31346, Usage: Usage{CPU: sec(13.3 / 5)}, ES: sec(46.8 / 5)}
	ref := indexRun{Rate: 34276, Usage: Usage{CPU: sec(4.0 / 5)}, ES: sec(45.8 / 5)}
	note := r1Budget(ix, ref, docs, 0.95, 2)
	for _, want := range []string{"indexer 13.3 + Elasticsearch 46.8 = 60.1", "94 % busy", "BulkIndexer 4.0 + Elasticsearch 45.8 = 49.8 (85 % busy)",
		"spends 10.3 more: the indexer 9.3", "Elasticsearch +1.0", "within 52.4 (7.7 less than measured)"} {
		if !strings.Contains(note, want) {
			t.Errorf("note lacks %q:\n%s", want, note)
		}
	}
	if got := r1Budget(ix, indexRun{}, docs, 0.95, 2); got != "" {
		t.Errorf("without the reference's run the note should be empty, got %q", got)
	}
}

func TestSeqOf(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want int64
		ok   bool
	}{
		{`{"agentobs.producer.seq":7,"message":"m","seq":42}`, 42, true},
		{`{"seq":0,"x":1}`, 0, true},
		{`{"agentobs.producer.seq":7}`, 0, false},
		{`{"seq":"12"}`, 0, false},
	} {
		if got, ok := seqOf([]byte(tc.v)); got != tc.want || ok != tc.ok {
			t.Errorf("seqOf(%s) = %d, %v; want %d, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

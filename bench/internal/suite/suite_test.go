package suite

import (
	"strings"
	"testing"
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

package rig

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func parseMetrics(t *testing.T, text string) Metrics {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return mf
}

// histogram is one series of h with cumulative counts at le 1, 2, 4, +Inf.
func histogram(c1, c2, c4, inf int) string {
	return "# TYPE h histogram\n" +
		"h_bucket{le=\"1\"} " + strconv.Itoa(c1) + "\nh_bucket{le=\"2\"} " + strconv.Itoa(c2) + "\nh_bucket{le=\"4\"} " + strconv.Itoa(c4) +
		"\nh_bucket{le=\"+Inf\"} " + strconv.Itoa(inf) + "\nh_sum 0\nh_count " + strconv.Itoa(inf) + "\n"
}

func TestQuantileSinceCountsOnlyLaterObservations(t *testing.T) {
	// Warm-up: 10 slow observations (all in (2,4]). Then 100 fast ones (all in (0,1]).
	base := parseMetrics(t, histogram(0, 0, 10, 10))
	now := parseMetrics(t, histogram(100, 100, 110, 110))

	if got := now.Quantile("h", 0.99); got <= 2 {
		t.Errorf("p99 over everything = %v, want > 2 (the warm-up's slow tail is in it)", got)
	}
	if got := now.QuantileSince("h", 0.99, base); got > 1 {
		t.Errorf("p99 since the warm-up = %v, want ≤ 1 (only the fast observations)", got)
	}
	if got := now.QuantileSince("h", 0.5, now); !math.IsNaN(got) {
		t.Errorf("quantile of no new observations = %v, want NaN", got)
	}
	if got := now.QuantileSince("missing", 0.5, base); !math.IsNaN(got) {
		t.Errorf("quantile of a missing family = %v, want NaN", got)
	}
}

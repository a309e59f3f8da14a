package main

import (
	"strings"
	"testing"
	"time"
)

func TestWarmupLastsUntilTheIndexerKeepsUp(t *testing.T) {
	type look struct {
		at           time.Duration
		lag, indexed float64
		over         bool
		why          string
	}
	cases := map[string][]look{
		"keeps up from the start: over at the minimum, not before": {
			{at: 9 * time.Second, lag: 100, indexed: 1}, {at: 10 * time.Second, lag: 100, indexed: 1},
			{at: 11 * time.Second, lag: 100, indexed: 1}, {at: 12 * time.Second, lag: 100, indexed: 2},
			{at: 13 * time.Second, lag: 100, indexed: 3}, {at: 14 * time.Second, lag: 100, indexed: 4},
			{at: 15 * time.Second, lag: 100, indexed: 5, over: true, why: "keeps up"},
		},
		"a backlog: over five looks after it is gone": {
			{at: 15 * time.Second, lag: 9000, indexed: 1}, {at: 16 * time.Second, lag: 5000, indexed: 2},
			{at: 17 * time.Second, lag: 5000, indexed: 3}, {at: 18 * time.Second, lag: 7000, indexed: 4},
			{at: 19 * time.Second, lag: 100, indexed: 5}, {at: 20 * time.Second, lag: 100, indexed: 6},
			{at: 21 * time.Second, lag: 100, indexed: 7}, {at: 22 * time.Second, lag: 100, indexed: 8},
			{at: 23 * time.Second, lag: 100, indexed: 9, over: true, why: "keeps up"},
		},
		"nothing indexed yet is not keeping up": {
			{at: 15 * time.Second, lag: 0}, {at: 16 * time.Second, lag: 0}, {at: 17 * time.Second, lag: 0},
			{at: 18 * time.Second, lag: 0}, {at: 19 * time.Second, lag: 0}, {at: 20 * time.Second, lag: 0},
		},
		"never caught up: over at the maximum, saying so": {
			{at: 15 * time.Second, lag: 9000, indexed: 1}, {at: 59 * time.Second, lag: 9000, indexed: 2},
			{at: 60 * time.Second, lag: 9000, indexed: 3, over: true, why: "had not caught up (lag 9000 records)"},
		},
	}
	for name, looks := range cases {
		t.Run(name, func(t *testing.T) {
			w := warmupWatch{warmup: warmup{min: 15 * time.Second, max: time.Minute}, bound: 6000}
			for i, l := range looks {
				over, why := w.look(l.at, l.lag, l.indexed)
				if over != l.over || !strings.Contains(why, l.why) || (why == "") != (l.why == "") {
					t.Fatalf("look %d at %s (lag %.0f): over=%v %q, want over=%v %q", i, l.at, l.lag, over, why, l.over, l.why)
				}
			}
		})
	}
}

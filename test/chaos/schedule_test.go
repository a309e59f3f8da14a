package chaos

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestScheduleDeterministic(t *testing.T) {
	span := 90 * time.Second
	a := NewSchedule(42, span, AllOps, 6, false)
	b := NewSchedule(42, span, AllOps, 6, false)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different schedules:\n%s\n%s", a, b)
	}
	c := NewSchedule(43, span, AllOps, 6, false)
	if reflect.DeepEqual(a.Steps, c.Steps) {
		t.Fatalf("seeds 42 and 43 gave the same schedule:\n%s", a)
	}
}

func TestScheduleShape(t *testing.T) {
	f := func(seed uint64, span time.Duration, ops []Op, n int, long bool) {
		t.Helper()
		s := NewSchedule(seed, span, ops, n, long)
		if len(s.Steps) == 0 || len(s.Steps) > n {
			t.Fatalf("seed %d: %d steps, want 1..%d", seed, len(s.Steps), n)
		}
		var prevEnd time.Duration
		for i, st := range s.Steps {
			if st.At < 5*time.Second {
				t.Errorf("seed %d step %d starts at %s, before the settling time", seed, i, st.At)
			}
			if i > 0 && st.At < prevEnd+3*time.Second-100*time.Millisecond {
				t.Errorf("seed %d step %d at %s overlaps the previous (ends %s)", seed, i, st.At, prevEnd)
			}
			if st.End() > span {
				t.Errorf("seed %d step %d ends at %s, after the span %s", seed, i, st.End(), span)
			}
			lo, hi := length(st.Op, long)
			if st.For > hi+100*time.Millisecond || (hi > 0 && st.For <= 0) {
				t.Errorf("seed %d step %d: %s lasts %s, outside (%s, %s]", seed, i, st.Op, st.For, lo, hi)
			}
			if !strings.Contains(s.String(), st.String()) {
				t.Errorf("String() misses step %s", st)
			}
			prevEnd = st.End()
		}
	}
	for seed := range uint64(200) {
		f(seed, 60*time.Second, AllOps, 4, false)
		f(seed, 5*time.Minute, AllOps, 12, true)
		f(seed, 20*time.Second, []Op{FreezeES}, 8, false) // more steps than fit
	}
}

func TestScheduleDrawsEveryOp(t *testing.T) {
	seen := map[Op]bool{}
	for seed := range uint64(50) {
		for _, st := range NewSchedule(seed, 2*time.Minute, AllOps, 8, false).Steps {
			seen[st.Op] = true
		}
	}
	for _, op := range AllOps {
		if !seen[op] {
			t.Errorf("%s never drawn in 50 seeds", op)
		}
	}
}

func TestParseOps(t *testing.T) {
	ops, err := ParseOps("kill-shipper, freeze-es,")
	if err != nil || !reflect.DeepEqual(ops, []Op{KillShipper, FreezeES}) {
		t.Fatalf("ParseOps: %v %v", ops, err)
	}
	if _, err := ParseOps("kill-shipper,kill-everything"); err == nil || !strings.Contains(err.Error(), "kill-everything") {
		t.Fatalf("unknown op not named: %v", err)
	}
	seeds, err := ParseSeeds("1, 22,333")
	if err != nil || !reflect.DeepEqual(seeds, []uint64{1, 22, 333}) {
		t.Fatalf("ParseSeeds: %v %v", seeds, err)
	}
	if _, err := ParseSeeds("x"); err == nil {
		t.Fatal("bad seed accepted")
	}
}

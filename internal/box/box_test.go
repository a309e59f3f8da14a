package box

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestBoxesHoldTheirValues: every boxed value reads back as the language's
// own boxing of it, with its type, across blocks and after a Reset; once
// the blocks are grown, boxing allocates nothing.
func TestBoxesHoldTheirValues(t *testing.T) {
	var b Boxes
	fill := func(n int) (got, want []any) {
		for i := range n {
			s, num, i64, u64 := fmt.Sprint("s", i), json.Number(fmt.Sprint(i*7)), int64(-i)<<20, uint64(i)<<40|1
			f64 := float64(i)*1.5 - 0.25
			got = append(got, b.String(s), b.Number(num), b.Int64(i64), b.Uint64(u64), b.Uint64(uint64(i%256)), b.Float64(f64), b.Float64(0))
			want = append(want, s, num, i64, u64, uint64(i%256), f64, float64(0))
		}
		return got, want
	}
	for round := range 2 {
		got, want := fill(3 * blockLen)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("round %d, value %d: %#v, want %#v", round, i, got[i], want[i])
			}
		}
		b.Reset()
	}
	allocs := testing.AllocsPerRun(10, func() {
		for i := range blockLen {
			_ = b.Uint64(uint64(i) << 40)
			_ = b.Int64(int64(i) << 40)
			_ = b.Float64(float64(i) + 0.5)
		}
		b.Reset()
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per %d boxed numbers, want 0", allocs, 3*blockLen)
	}
	var none *Boxes
	if v := none.Uint64(1 << 40); v != any(uint64(1<<40)) {
		t.Errorf("a nil *Boxes boxed %#v", v)
	}
}

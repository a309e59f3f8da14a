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

// TestMapsReused: Map hands out empty maps, the same ones after a Reset in
// the same order, without allocating once they exist; a map that held
// more than MaxReusedMap entries is not handed out again, and past
// maxPooledMaps in one record the maps are new ones. A nil *Boxes makes a
// map each time.
func TestMapsReused(t *testing.T) {
	var b Boxes
	first := []map[string]any{b.Map(2), b.Map(2), b.Map(2)}
	for i, m := range first {
		for k := range i * (MaxReusedMap/2 + 8) { // the third holds more than MaxReusedMap
			m[fmt.Sprint("k", k)] = k
		}
	}
	b.Reset()
	for i, want := range first {
		m := b.Map(2)
		if len(m) != 0 {
			t.Fatalf("map %d after Reset holds %v", i, m)
		}
		if same := fmt.Sprintf("%p", m) == fmt.Sprintf("%p", want); same != (i < 2) {
			t.Errorf("map %d reused: %v, want %v (it held %d entries)", i, same, i < 2, i*(MaxReusedMap/2+8))
		}
	}
	b.Reset()
	allocs := testing.AllocsPerRun(10, func() {
		for range 3 {
			b.Map(2)["k"] = "v"
		}
		b.Reset()
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per record of three small maps, want 0", allocs)
	}
	for range maxPooledMaps + 10 {
		b.Map(1)
	}
	if len(b.maps.maps) != maxPooledMaps {
		t.Errorf("%d maps kept, want at most %d", len(b.maps.maps), maxPooledMaps)
	}
	var none *Boxes
	if m1, m2 := none.Map(1), none.Map(1); m1 == nil || fmt.Sprintf("%p", m1) == fmt.Sprintf("%p", m2) {
		t.Error("a nil *Boxes did not make a new map each time")
	}
}

// TestText: Text makes strings of what fill appends, which keep their
// bytes while later ones are made (also across a larger block), in memory
// reused after Reset; a nil *Boxes makes new memory.
func TestText(t *testing.T) {
	var b Boxes
	var got, want []string
	for i := range 300 {
		s := fmt.Sprintf("text %d %s", i, string(make([]byte, i*3)))
		got = append(got, b.Text(len(s), func(dst []byte) []byte { return append(dst, s...) }))
		want = append(want, s)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("string %d changed: %q", i, got[i])
		}
	}
	if s := b.Text(0, func(dst []byte) []byte { return dst }); s != "" {
		t.Errorf("empty text: %q", s)
	}
	b.Reset()
	allocs := testing.AllocsPerRun(10, func() {
		for range 100 {
			b.Text(5, func(dst []byte) []byte { return append(dst, "hello"...) })
		}
		b.Reset()
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per 100 texts after Reset, want 0", allocs)
	}
	var none *Boxes
	if s := none.Text(3, func(dst []byte) []byte { return append(dst, "abc"...) }); s != "abc" {
		t.Errorf("nil *Boxes: %q", s)
	}
}

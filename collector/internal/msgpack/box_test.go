package msgpack

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/agentobs/agentobs/collector/internal/flbchunk"
)

// TestReuseValues: with ReuseValues every event decodes to exactly what the
// allocating decoder returns, across slab blocks (more strings and integers
// than one block holds) and across a Reset onto another chunk; and the
// strings and integers cost no allocation of their own.
func TestReuseValues(t *testing.T) {
	chunk := func(n int, word string) []byte {
		b := flbchunk.New(flbchunk.V2)
		for i := range n {
			b.Add(time.Unix(1700000000, int64(i)), map[string]any{
				"msg": fmt.Sprintf("%s %d", word, i), "seq": 1000 + i, "neg": -1 - i, "big": int64(1) << 40,
				"nested": map[string]any{"s": word, "list": []any{word, i * 300, "x"}},
			}, map[string]any{"m": word})
		}
		return b.Bytes()
	}
	plain := NewDecoder(nil, true)
	reuse := NewDecoder(nil, true)
	reuse.ReuseRecord, reuse.ReuseValues = true, true
	for _, c := range [][]byte{chunk(700, "first"), chunk(300, "second")} {
		plain.Reset(c, true)
		reuse.Reset(c, true)
		for i := 0; ; i++ {
			var ev, rev Event
			err, rerr := plain.Next(&ev), reuse.Next(&rev)
			if err != rerr {
				t.Fatalf("event %d: %v, with ReuseValues %v", i, err, rerr)
			}
			if err == io.EOF {
				break
			}
			if a, b := fmt.Sprintf("%#v", ev), fmt.Sprintf("%#v", rev); a != b {
				t.Fatalf("event %d:\n%s\nwith ReuseValues\n%s", i, a, b)
			}
		}
	}
	flat := flbchunk.New(flbchunk.V2)
	for i := range 100 {
		flat.Add(time.Unix(1700000000, int64(i)), map[string]any{"msg": "step", "level": "info", "seq": 1000 + i, "duration_ms": 12.5 + float64(i)}, nil)
	}
	c := flat.Bytes()
	var ev Event
	allocs := testing.AllocsPerRun(20, func() {
		reuse.Reset(c, true)
		for reuse.Next(&ev) == nil {
		}
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per chunk of 100 flat events, want 0 once the slabs are grown", allocs)
	}
	// Kubernetes records: three nested objects each, their maps reused.
	kube := flbchunk.New(flbchunk.V2)
	for i := range 100 {
		kube.Add(time.Unix(1700000000, int64(i)), map[string]any{"log": "step", "stream": "stdout", "kubernetes": map[string]any{
			"pod_name": "planner-7d9f", "namespace_name": "agents", "container_name": "planner",
			"labels": map[string]any{"app": "planner", "tier": "agents"}, "annotations": map[string]any{"owner": "sre"},
		}}, nil)
	}
	c = kube.Bytes()
	allocs = testing.AllocsPerRun(20, func() {
		reuse.Reset(c, true)
		for reuse.Next(&ev) == nil {
		}
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per chunk of 100 Kubernetes events, want 0 once the maps are made", allocs)
	}
}

// TestEmptyMetadataCostsNothing: an event's empty metadata, in each of its
// encodings (Fluent Bit 5's log event encoder writes a map16 header), is
// skipped without a map made for it.
func TestEmptyMetadataCostsNothing(t *testing.T) {
	for _, meta := range [][]byte{{0x80}, {0xde, 0, 0}, {0xdf, 0, 0, 0, 0}} {
		one := flbchunk.New(flbchunk.V2).Add(time.Unix(1700000000, 5), map[string]any{"msg": "step"}, nil).Bytes()
		if one[12] != 0x80 {
			t.Fatalf("event % x: want the empty metadata at byte 12", one)
		}
		event := append(append(append([]byte(nil), one[:12]...), meta...), one[13:]...)
		chunk := bytes.Repeat(event, 100)
		d := NewDecoder(chunk, true)
		d.ReuseRecord, d.ReuseValues = true, true
		var ev Event
		if err := d.Next(&ev); err != nil || ev.Meta != nil || ev.Record["msg"] != "step" || !ev.Time.Equal(time.Unix(1700000000, 5)) {
			t.Fatalf("metadata % x: %#v, %v", meta, ev, err)
		}
		allocs := testing.AllocsPerRun(20, func() {
			d.Reset(chunk, true)
			n := 0
			for d.Next(&ev) == nil {
				n++
			}
			if n != 100 {
				t.Fatalf("metadata % x: %d events, want 100", meta, n)
			}
		})
		if allocs > 0 {
			t.Errorf("metadata % x: %.1f allocations per chunk of 100 events, want 0", meta, allocs)
		}
	}
}

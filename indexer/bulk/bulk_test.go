package bulk

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestParseResponseAndClassify(t *testing.T) {
	body := `{"errors":true,"items":[
	{"create":{"status":201}},
	{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"[x]: version conflict, document already exists"}}},
	{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}},
	{"create":{"status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}},
	{"create":{"status":400,"error":{"type":"document_parsing_exception","reason":"[1:114] failed to parse field [n] of type [long] in document with id '1'. Preview of field's value: 'x'"}}},
	{"create":{"status":400,"error":{"type":"illegal_argument_exception","reason":"id is too long, must be no longer than 512 bytes"}}},
	{"index":{"status":200}},
	{"create":{"status":403,"error":{"type":"cluster_block_exception","reason":"index [agentobs-logs-2026.11.26] blocked by: [FORBIDDEN/8/index write (api)];"}}},
	{"create":{"status":429,"error":{"type":"cluster_block_exception","reason":"index [x] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];"}}}]}`
	res, err := ParseResponse(strings.NewReader(body), 9)
	if err != nil {
		t.Fatal(err)
	}
	want := []Class{ClassOK, ClassDuplicate, ClassRetry, ClassRetry, ClassConflict, ClassPermanent, ClassOK, ClassRetry, ClassRetry}
	for i, w := range want {
		if got, _ := Classify(res[i]); got != w {
			t.Errorf("item %d: class %d want %d (%+v)", i, got, w, res[i])
		}
	}
	if _, r := Classify(res[2]); r != RetryTooMany {
		t.Errorf("429 reason %q", r)
	}
	for _, i := range []int{7, 8} { // a write block waits, it never dead-letters
		if _, r := Classify(res[i]); r != RetryBlocked {
			t.Errorf("item %d: block reason %q, want %q", i, r, RetryBlocked)
		}
	}
	if _, err := ParseResponse(strings.NewReader(body), 3); err == nil {
		t.Error("item count mismatch not detected")
	}
}

func TestConflictField(t *testing.T) {
	f := func(reason, want string) {
		t.Helper()
		if got := ConflictField(&ItemError{Type: "document_parsing_exception", Reason: reason}); got != want {
			t.Errorf("%q: got %q want %q", reason, got, want)
		}
	}
	f("[1:114] failed to parse field [user.age] of type [long] in document with id '1'. Preview of field's value: 'x'", "user.age")
	f("[1:6] object mapping for [o] tried to parse field [o] as object, but found a concrete value", "o")
	f("mapper [a.b] cannot be changed from type [long] to [text]", "a.b")
	f("Could not dynamically add mapping for field [a.b]. Existing mapping for [a] must be of type object but found [keyword].", "a.b")
	f("Can't merge a non object mapping [a] with an object mapping", "a")
	f("Limit of total fields [2000] has been exceeded", "")
	nested := &ItemError{Type: "mapper_parsing_exception", Reason: "failed", CausedBy: &ItemError{Type: "x", Reason: "failed to parse field [k] of type [date]"}}
	if got := ConflictField(nested); got != "k" {
		t.Errorf("caused_by: got %q", got)
	}
}

func TestQuarantine(t *testing.T) {
	f := func(src, path, wantMoved string, check func(map[string]any) bool) {
		t.Helper()
		out, moved, err := Quarantine([]byte(src), path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		if moved != wantMoved || !check(m) {
			t.Errorf("Quarantine(%s, %q) = %s (moved %q)", src, path, out, moved)
		}
	}
	conf := func(m map[string]any) map[string]any { c, _ := m[ConflictsField].(map[string]any); return c }
	f(`{"message":"m","user.age":"x","a":1}`, "user.age", "user.age", func(m map[string]any) bool {
		return conf(m)["user.age"] == `"x"` && m["user.age"] == nil && m["a"] == 1.0
	})
	f(`{"message":"m","user":{"profile.age":{"v":[1,2]}}}`, "user.profile.age", "user.profile.age", func(m map[string]any) bool {
		return conf(m)["user.profile.age"] == `{"v":[1,2]}` && len(m["user"].(map[string]any)) == 0
	})
	f(`{"message":"m","trace.id":"t","junk":{"x":1}}`, "", "source", func(m map[string]any) bool {
		return m["message"] == "m" && m["trace.id"] == "t" && m["junk"] == nil && strings.Contains(conf(m)["source"].(string), "junk")
	})
	f(`{"message":"m","n":12345678901234567890}`, "n", "n", func(m map[string]any) bool {
		return conf(m)["n"] == "12345678901234567890"
	})
}

func TestAppendAction(t *testing.T) {
	got := string(AppendAction(nil, &Item{Op: OpCreate, Index: "i-2024.01.02", ID: `a"b`, Source: []byte(`{"a":1}`)}))
	want := "{\"create\":{\"_index\":\"i-2024.01.02\",\"_id\":\"a\\\"b\"}}\n{\"a\":1}\n"
	if got != want {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestParseResponseAllOK(t *testing.T) {
	ok := `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`
	res, err := ParseResponse(strings.NewReader(ok), 2)
	if err != nil || len(res) != 2 || res[0].Status != 201 || res[1].Status != 201 {
		t.Fatalf("all-ok response: %+v, %v", res, err)
	}
	if _, err := ParseResponse(strings.NewReader(ok), 3); err == nil {
		t.Error("all-ok response with a missing item not detected")
	}
	// Not the all-ok prefix: decoded item by item.
	mixed := `{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"x"}}}]}`
	res, err = ParseResponse(strings.NewReader(mixed), 2)
	if err != nil || res[1].Status != 409 {
		t.Fatalf("mixed response: %+v, %v", res, err)
	}
}

type targetObs struct {
	nopObserver
	last int
}

func (o *targetObs) Target(n int) { o.last = n }

func TestWriterTargetAdapts(t *testing.T) {
	obs := &targetObs{}
	cfg := DefaultConfig()
	cfg.MaxBytes, cfg.MinBytes = 8<<20, 1<<20
	w := NewWriter(nil, cfg, obs, slog.New(slog.DiscardHandler))
	if w.TargetBytes() != 8<<20 || obs.last != 8<<20 {
		t.Fatalf("starts at %d (reported %d), want the maximum", w.TargetBytes(), obs.last)
	}
	w.adapt(true)
	w.adapt(true)
	if w.TargetBytes() != 2<<20 {
		t.Fatalf("after two push-backs %d, want 2 MiB", w.TargetBytes())
	}
	for range 10 {
		w.adapt(true)
	}
	if w.TargetBytes() != 1<<20 {
		t.Fatalf("floor: %d, want 1 MiB", w.TargetBytes())
	}
	for range 100 {
		w.adapt(false)
	}
	if w.TargetBytes() != 8<<20 || obs.last != 8<<20 {
		t.Fatalf("ceiling: %d (reported %d), want 8 MiB", w.TargetBytes(), obs.last)
	}
}

// Package hostile is the end-to-end test of hostile log content: records
// that carry newlines, terminal escapes, forged JSON and log lines, absurd
// nesting and key counts, prototype-pollution keys, keys that collide with
// the typed ECS fields, huge values, NUL and the JavaScript line separators.
// They go through the real edge (record.Parser + publish.Edge, as the shipper
// and the collector run them), the real local Kafka, the real indexer
// (in-process, indexer/app) and Elasticsearch, and the test reads every
// document back. test/chaos/README.md ("Hostile input") says what is capped,
// what is stored as is, and which inputs end as dead letters and why.
package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/app"
	"github.com/agentobs/agentobs/indexer/bulk"
	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

// hostileCase is one record as an agent writes it, and what must come out.
type hostileCase struct {
	name string
	line string         // the raw stdout line; empty when fields is used
	obj  map[string]any // a decoded object (collector path, FromMap) instead of a line
	// want are top-level _source keys and their exact values (compared as
	// JSON), checked in the stored document.
	want map[string]any
	// flags the edge must have recorded.
	flags []string
	// moved are values the indexer must have quarantined under _conflicts
	// (the original record then also sits in the dead-letter topic): by path,
	// as _conflicts.<path> holding the value's JSON text, or, past the
	// indexer's per-field rounds, inside the whole source kept as
	// _conflicts.source.
	moved map[string]any
}

func traceOf(i int) string { return fmt.Sprintf("%032x", 0xabc000+i) }

// hostileCases builds the inputs. Each carries its own trace id (in the
// spelling agents use: trace_id) so the test can find it by trace.
func hostileCases() []hostileCase {
	ansi := "\x1b[31mERROR\x1b[0m \x1b]0;pwned\x07 \x1b[2J\x1b[H cleared"
	fakeJSON := `{"log.level":"fatal","trace.id":"ffffffffffffffffffffffffffffffff","event.id":"forged"}`
	mimic := "ok\n2026-11-26T10:00:00.000Z FATAL [payments] trace_id=ffffffffffffffffffffffffffffffff charge failed\n" +
		`{"@timestamp":"2020-01-01T00:00:00Z","message":"forged record","log.level":"fatal","event.id":"forged"}`
	big := strings.Repeat("0123456789abcdef", 100<<10/16-1) + "é€😀\"\\"
	deep50 := strings.Repeat(`{"a":`, 50) + `"bottom"` + strings.Repeat("}", 50)
	deep10k := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	cases := []hostileCase{
		{name: "control-before", line: `{"msg":"a plain record","level":"info","n":1}`,
			want: map[string]any{"message": "a plain record", "log.level": "info", "n": 1}},
		{name: "newlines", line: jsonLine(map[string]any{"msg": "first line\nsecond line\r\nthird\rfourth", "note": "a\nb"}),
			want: map[string]any{"message": "first line\nsecond line\r\nthird\rfourth", "note": "a\nb"}},
		{name: "ansi", line: jsonLine(map[string]any{"msg": ansi, "level": "info", "tool": "\x1b[1mbash\x1b[0m"}),
			want: map[string]any{"message": ansi, "log.level": "info", "tool": "\x1b[1mbash\x1b[0m"}},
		{name: "fake-json", line: jsonLine(map[string]any{"msg": fakeJSON, "level": "info", "user_input": `"}],"x":{"y":"z`}),
			want: map[string]any{"message": fakeJSON, "log.level": "info", "user_input": `"}],"x":{"y":"z`}},
		{name: "mimic-line", line: jsonLine(map[string]any{"msg": mimic, "level": "debug"}),
			want: map[string]any{"message": mimic, "log.level": "debug"}},
		{name: "text-ansi", line: "\x1b[31mpanic:\x1b[0m runtime error {\"log.level\":\"fatal\"}\u2028next",
			want: map[string]any{"message": "\x1b[31mpanic:\x1b[0m runtime error {\"log.level\":\"fatal\"}\u2028next"}},
		{name: "proto-keys", line: `{"msg":"proto","__proto__":{"polluted":true,"isAdmin":1},"constructor":{"prototype":{"x":1}},"prototype":"p"}`,
			want: map[string]any{"__proto__": map[string]any{"polluted": true, "isAdmin": 1},
				"constructor": map[string]any{"prototype": map[string]any{"x": 1}}, "prototype": "p"}},
		// Elasticsearch refuses these field names ("field name cannot be
		// an empty string", "...cannot contain only dots", empty path
		// segments) without naming a field path: the indexer keeps the
		// document with its correlation fields and the whole source as
		// _conflicts.source, and dead-letters the original (mapping_conflict).
		{name: "empty-key", line: `{"msg":"empty key","":"nothing","other":"kept"}`,
			want: map[string]any{"message": "empty key"}, moved: map[string]any{"": "nothing", "other": "kept"}},
		{name: "dot-key", line: `{"msg":"dot key",".":"dot"}`, want: map[string]any{"message": "dot key"}, moved: map[string]any{".": "dot"}},
		{name: "double-dot-key", line: `{"msg":"double dot","a..b":"dd"}`, want: map[string]any{"message": "double dot"}, moved: map[string]any{"a..b": "dd"}},
		{name: "dup-timestamp", line: `{"msg":"dup ts","@timestamp":"2026-11-26T10:00:00Z","@timestamp":"2020-01-01T00:00:00Z"}`,
			want: map[string]any{"@timestamp": "2026-11-26T10:00:00.000000000Z", "agentobs.conflict.@timestamp": "2020-01-01T00:00:00Z"}},
		// "service" is a service-name spelling: it becomes service.name.
		// "trace" and "log" collide with the mapped objects trace.* and
		// log.*: Elasticsearch rejects them and the indexer quarantines each.
		{name: "scalar-prefixes", line: `{"msg":"scalars","trace":"t-scalar","log":"l-scalar","service":"s-scalar"}`,
			want:  map[string]any{"message": "scalars", "service.name": "s-scalar"},
			moved: map[string]any{"trace": "t-scalar", "log": "l-scalar"}},
		// Three collisions exceed the indexer's two per-field rounds: the
		// whole source is quarantined; correlation fields stay on top.
		{name: "scalar-prefixes-three", line: `{"msg":"three scalars","trace":"t-scalar","log":"l-scalar","span":7}`,
			want:  map[string]any{"message": "three scalars"},
			moved: map[string]any{"trace": "t-scalar", "log": "l-scalar", "span": 7}},
		{name: "big-value", line: jsonLine(map[string]any{"msg": "big", "blob": big}), want: map[string]any{"blob": big}},
		{name: "nul-and-separators", line: jsonLine(map[string]any{"msg": "nul\x00here \u2028 line sep \u2029 para sep", "k\x00ey": "v\u2028"}),
			want: map[string]any{"message": "nul\x00here \u2028 line sep \u2029 para sep", "k\x00ey": "v\u2028"}},
		{name: "deep-50", line: `{"msg":"deep 50","deep":` + deep50 + `}`, flags: []string{record.FlagDepthLimited},
			want: map[string]any{"message": "deep 50"}},
		// Past the scanner's recursion bound (1000) the line is not decoded
		// at all: it is kept whole as the message, flagged unparsed_json.
		{name: "deep-10000", line: `{"msg":"deep 10000","deep":` + deep10k + `}`, flags: []string{record.FlagUnparsedJSON, record.FlagDepthLimited},
			want: map[string]any{"message": `{"msg":"deep 10000","deep":` + deep10k + `}`}},
		{name: "many-keys-line", line: manyKeysLine(50_000), flags: []string{record.FlagDepthLimited},
			want: map[string]any{"message": "fifty thousand keys", "agentobs.dropped_fields": 50_000 - 1000}},
		{name: "million-keys", obj: millionKeys(), flags: []string{record.FlagDepthLimited},
			want: map[string]any{"message": "a million keys", "agentobs.dropped_fields": 1_000_000 - 1000}},
		{name: "control-after", line: `{"msg":"another plain record","level":"warn","n":2}`,
			want: map[string]any{"message": "another plain record", "log.level": "warn", "n": 2}},
	}
	return cases
}

// jsonLine encodes an object the way a JSON logger would (without HTML
// escaping, so < > & stay literal).
func jsonLine(m map[string]any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// manyKeysLine is a JSON line with n keys (n=50 000 is ~600 KB, under the
// 1 MiB line limit, so it is parsed and then capped by the policy).
func manyKeysLine(n int) string {
	var b strings.Builder
	b.WriteString(`{"msg":"fifty thousand keys"`)
	for i := range n {
		fmt.Fprintf(&b, `,"k%06d":%d`, i, i)
	}
	return b.String() + "}"
}

// millionKeys is one object with 10^6 keys, as the Fluent Bit plugin would
// hand it over after decoding msgpack (a line of that size is over the
// shipper's 1 MiB line limit and would be truncated before parsing).
func millionKeys() map[string]any {
	m := make(map[string]any, 1_000_001)
	for i := range 1_000_000 {
		m[fmt.Sprintf("k%07d", i)] = i
	}
	m["msg"] = "a million keys"
	return m
}

func TestHostileInputEndToEnd(t *testing.T) {
	kc := harness.RequireKafka(t)
	es := harness.RequireES(t)
	topic, dlq, prefix := harness.Topic(t, 2), harness.Topic(t, 1), harness.Index(t)
	names := schema.WithPrefix(prefix)
	t.Cleanup(func() { schema.Uninstall(context.Background(), es, names) })

	// The edge, as the shipper builds it (default policy: depth 20, 1000 keys).
	reg := prometheus.NewRegistry()
	em := publish.NewMetrics(reg, "shipper", record.DefaultContentFields)
	ecfg := publish.DefaultConfig()
	ecfg.Topic = topic
	ecfg.DLQTopic = dlq
	ed, err := publish.New(ecfg, "shipper", "shipper/hostile/test", 0, em)
	if err != nil {
		t.Fatal(err)
	}
	parser := record.NewParser(record.ParseOptions{DefaultService: "hostile-agent"})

	cases := hostileCases()
	msgs := make([]kafka.Message, 0, len(cases))
	ids := make([]string, len(cases))
	for i, c := range cases {
		var rec record.Record
		if c.obj != nil {
			parser.FromMap(c.obj, time.Now(), &rec)
		} else if !parser.Parse([]byte(c.line), &rec) {
			t.Fatalf("%s: line not complete", c.name)
		}
		rec.TraceID = traceOf(i) // what the agent's trace_id would give; set after parsing so every case has one
		rec.EventID = publish.EventID("hostile|"+c.name, uint64(i), nil)
		ids[i] = rec.EventID
		msg, _, dead := ed.Message(&rec, nil)
		if dead {
			t.Fatalf("%s: dead-lettered at the edge", c.name)
		}
		for _, f := range c.flags {
			if !rec.HasFlag(f) {
				t.Errorf("%s: flag %s missing (have %v)", c.name, f, rec.Flags)
			}
		}
		msg.Value = bytes.Clone(msg.Value)
		msgs = append(msgs, msg)
	}
	if got := testutil.ToFloat64(em.Structure.WithLabelValues(record.LimitDepth)); got != 2 {
		t.Errorf("structure_limited_total{kind=depth} = %v, want 2 (deep-50, deep-10000)", got)
	}
	if got := testutil.ToFloat64(em.Structure.WithLabelValues(record.LimitFields)); got != 2 {
		t.Errorf("structure_limited_total{kind=fields} = %v, want 2 (many-keys-line, million-keys)", got)
	}
	if got := testutil.ToFloat64(em.Flagged.WithLabelValues(record.FlagUnparsedJSON)); got != 1 {
		t.Errorf("records_flagged_total{flag=unparsed_json} = %v, want 1 (deep-10000)", got)
	}

	pc := kafkaclient.DefaultProducerConfig()
	prod, err := kafkaclient.NewProducer(kc, pc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := prod.Send(ctx, msgs); err != nil {
		t.Fatalf("produce: %v", err)
	}

	cfg := app.DefaultConfig()
	cfg.Kafka, cfg.ES = kc, harness.ESConfig()
	cfg.Topic, cfg.DLQTopic, cfg.Group, cfg.Names = topic, dlq, harness.Name(t, "g"), names
	cfg.SpansTopic = ""
	cfg.Index.Replicas = 0
	cfg.SessionTimeout = 6 * time.Second
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.CommitInterval = 200 * time.Millisecond
	cfg.SummaryInterval = 300 * time.Millisecond
	cfg.Bulk.MaxBackoff = 2 * time.Second
	ix, stop := startIndexer(t, cfg)
	defer stop()

	harness.Eventually(t, 40*time.Second, func() (bool, string) {
		n := count(t, es, names.Alias, nil)
		return n >= len(cases), fmt.Sprintf("%d of %d documents", n, len(cases))
	})
	if n := count(t, es, names.Alias, nil); n != len(cases) {
		t.Fatalf("%d documents, want %d", n, len(cases))
	}
	wantDead := 0
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := fetch(t, es, names.Alias, "event.id", ids[i])
			if src == nil {
				return
			}
			// Correlation survives: the one document is found by its trace.
			if n := count(t, es, names.Alias, map[string]any{"term": map[string]any{"trace.id": traceOf(i)}}); n != 1 {
				t.Errorf("trace.id %s finds %d documents", traceOf(i), n)
			}
			for k, want := range c.want {
				if !sameJSON(src[k], want) {
					t.Errorf("%s: stored %s, sent %s", k, short(src[k]), short(want))
				}
			}
			if src["trace.id"] != traceOf(i) || src["event.id"] != ids[i] {
				t.Errorf("correlation fields: trace.id %v event.id %v", src["trace.id"], src["event.id"])
			}
			conf, _ := src[bulk.ConflictsField].(map[string]any)
			for p, want := range c.moved {
				if got, ok := quarantined(conf, p); !ok || !sameJSON(got, want) {
					t.Errorf("%s: quarantined %s (found %v), sent %s; _conflicts=%s", p, short(got), ok, short(want), short(conf))
				}
			}
			if len(c.moved) == 0 && conf == nil {
				// Untouched by the indexer: the document is the message value, byte for byte.
				var sent map[string]any
				dec := json.NewDecoder(bytes.NewReader(msgs[i].Value))
				dec.UseNumber()
				if err := dec.Decode(&sent); err != nil {
					t.Fatal(err)
				}
				if !sameJSON(src, sent) {
					t.Errorf("stored document differs from the record sent")
				}
			}
			if conf != nil && len(c.moved) == 0 {
				t.Errorf("unexpectedly quarantined: %s", short(conf))
			}
			if len(c.moved) > 0 {
				wantDead++
				t.Logf("quarantined: %v", keys(conf))
			}
		})
	}
	// Quarantined records also sit in the dead-letter topic, with the reason.
	if wantDead > 0 {
		for _, m := range harness.ConsumeAll(t, dlq, wantDead, 20*time.Second) {
			if r := kafkaclient.Header(m, kafkaclient.HeaderDLQReason); r != bulk.ReasonMappingConflict {
				t.Errorf("dead letter %s: reason %q", kafkaclient.Header(m, publish.HeaderEventID), r)
			}
			t.Logf("dead letter %s: %.200s", kafkaclient.Header(m, publish.HeaderEventID), kafkaclient.Header(m, kafkaclient.HeaderDLQError))
		}
	}
	if got := testutil.ToFloat64(ix.Metrics().Quarantined); int(got) != wantDead {
		t.Errorf("indexer quarantined %v, want %d", got, wantDead)
	}
	for _, r := range bulk.DeadLetterReasons {
		got := testutil.ToFloat64(ix.Metrics().DeadLetters.WithLabelValues(r))
		if want := map[bool]int{true: wantDead}[r == bulk.ReasonMappingConflict]; int(got) != want {
			t.Errorf("indexer dead_letters_total{reason=%s} = %v, want %d", r, got, want)
		}
	}
}

// quarantined finds the value the indexer moved from path: _conflicts.<path>
// (JSON text), or path in the whole source kept as _conflicts.source (at its
// top level or in that source's own _conflicts).
func quarantined(conf map[string]any, path string) (any, bool) {
	text, ok := conf[path].(string)
	if !ok {
		whole, isSrc := conf["source"].(string)
		if !isSrc {
			return nil, false
		}
		var doc map[string]any
		dec := json.NewDecoder(strings.NewReader(whole))
		dec.UseNumber()
		if dec.Decode(&doc) != nil {
			return nil, false
		}
		if v, ok := doc[path]; ok {
			return v, true
		}
		inner, _ := doc[bulk.ConflictsField].(map[string]any)
		return quarantined(inner, path)
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil, false
	}
	return v, true
}

func startIndexer(t *testing.T, cfg app.Config) (*app.App, func()) {
	t.Helper()
	a, err := app.New(cfg, app.Settings{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ShutdownTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	return a, harness.RunStage(t, a)
}

func search(t *testing.T, es *elasticsearch.Client, path string, q any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(q)
	req, _ := http.NewRequest(http.MethodPost, path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	res, err := es.Perform(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	dec := json.NewDecoder(res.Body)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func count(t *testing.T, es *elasticsearch.Client, alias string, q any) int {
	t.Helper()
	if res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(alias)); err == nil {
		res.Body.Close()
	}
	if q == nil {
		q = map[string]any{"match_all": map[string]any{}}
	}
	out := search(t, es, "/"+alias+"/_count?ignore_unavailable=true&allow_no_indices=true", map[string]any{"query": q})
	// Before the first document the alias does not exist yet and the answer
	// has no count: that is 0 documents, not a crash of the poll.
	c, ok := out["count"].(json.Number)
	if !ok {
		return 0
	}
	n, _ := c.Int64()
	return int(n)
}

// fetch returns the _source of the one document whose field equals value.
func fetch(t *testing.T, es *elasticsearch.Client, alias, field, value string) map[string]any {
	t.Helper()
	out := search(t, es, "/"+alias+"/_search", map[string]any{"query": map[string]any{"term": map[string]any{field: value}}, "size": 2})
	hits, _ := out["hits"].(map[string]any)["hits"].([]any)
	if len(hits) != 1 {
		t.Errorf("%s=%s: %d documents, want 1", field, value, len(hits))
		return nil
	}
	src, _ := hits[0].(map[string]any)["_source"].(map[string]any)
	return src
}

// sameJSON compares two values by their canonical JSON encoding (numbers
// as written, map keys sorted).
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 200 {
		return string(b[:200]) + fmt.Sprintf("…(%d bytes)", len(b))
	}
	return string(b)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestMillionKeysCapIsBounded measures what the field cap itself costs on a
// record of 10^6 keys (the input is already in memory; the question is
// whether capping it multiplies that). Allocation bytes and counts, not
// time: the sorted key list is the one large allocation.
func TestMillionKeysCapIsBounded(t *testing.T) {
	ed, err := publish.New(publish.DefaultConfig(), "shipper", "shipper/hostile/mem", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rec record.Record
	record.NewParser(record.ParseOptions{}).FromMap(millionKeys(), time.Now(), &rec)
	rec.EventID = publish.EventID("hostile|mem", 0, nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	msg, _, dead := ed.Message(&rec, nil)
	runtime.ReadMemStats(&after)
	if dead || len(rec.Fields) > 1000+3 || !rec.HasFlag(record.FlagDepthLimited) {
		t.Fatalf("dead=%v fields=%d flags=%v", dead, len(rec.Fields), rec.Flags)
	}
	bytesAlloc, allocs := after.TotalAlloc-before.TotalAlloc, after.Mallocs-before.Mallocs
	t.Logf("cap of 10^6 keys: %d KiB allocated in %d allocations; record %d bytes", bytesAlloc>>10, allocs, len(msg.Value))
	// One []string of 10^6 keys is 16 MB; allow twice that, and no
	// per-key allocation.
	if bytesAlloc > 32<<20 || allocs > 100_000 {
		t.Errorf("capping 10^6 keys allocated %d bytes in %d allocations", bytesAlloc, allocs)
	}
}

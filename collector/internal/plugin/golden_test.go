package plugin

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/agentobs/agentobs/collector/internal/flbchunk"
	"github.com/agentobs/agentobs/internal/kafkaclient"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenSender writes every message it is asked to send, as it is at the
// time of the Send (the flush reuses its memory afterwards), and answers
// with reply.
type goldenSender struct {
	mu    sync.Mutex
	out   *bytes.Buffer
	reply func(call int, msgs []kafka.Message) error
	calls int
	skip  string // the marks topic: written by a background goroutine
}

func (g *goldenSender) Send(_ context.Context, msgs []kafka.Message) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(msgs) > 0 && msgs[0].Topic == g.skip {
		return nil
	}
	call := g.calls
	g.calls++
	fmt.Fprintf(g.out, "send %d: %d messages\n", call, len(msgs))
	for _, m := range msgs {
		fmt.Fprintf(g.out, "  topic %s key %s\n", m.Topic, strconv.Quote(string(m.Key)))
		for _, h := range m.Headers {
			v := string(h.Value)
			if h.Key == kafkaclient.HeaderDLQTime {
				v = "<time>"
			}
			fmt.Fprintf(g.out, "    %s: %s\n", h.Key, strconv.Quote(v))
		}
		fmt.Fprintf(g.out, "    value %s\n", strconv.Quote(string(m.Value)))
	}
	if g.reply != nil {
		return g.reply(call, msgs)
	}
	return nil
}

func (g *goldenSender) Close() error { return nil }

// rawEvent encodes one v2 event whose record is written by body, for
// shapes a map[string]any cannot express (non-string keys, binary
// strings, duplicate keys, extensions).
func rawEvent(ts time.Time, body func(e *msgpack.Encoder)) []byte {
	var buf bytes.Buffer
	buf.Write([]byte{0x92, 0x92, 0xd7, 0x00})
	var p [8]byte
	p[0], p[1], p[2], p[3] = byte(ts.Unix()>>24), byte(ts.Unix()>>16), byte(ts.Unix()>>8), byte(ts.Unix())
	ns := ts.Nanosecond()
	p[4], p[5], p[6], p[7] = byte(ns>>24), byte(ns>>16), byte(ns>>8), byte(ns)
	buf.Write(p[:])
	buf.WriteByte(0x80) // empty metadata
	e := msgpack.NewEncoder(&buf)
	body(e)
	return buf.Bytes()
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// goldenCases are chunks covering what the build path distinguishes: the
// record shapes Fluent Bit inputs produce, every trace-context spelling,
// redaction hits, nesting, non-UTF-8 and binary strings, v1 and v2 events,
// the timestamp encodings, and bytes that are no events at all.
func goldenCases() []struct {
	name  string
	props MapConfig
	tag   string
	chunk []byte
	reply func(call int, msgs []kafka.Message) error
} {
	ts := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	longText := strings.Repeat("prompt text é ", 1500) // > 16 KiB
	deep := map[string]any{"leaf": "bottom"}
	for i := range 25 {
		deep = map[string]any{fmt.Sprintf("l%d", i): deep}
	}
	many := map[string]any{"msg": "many fields"}
	for i := range 1100 {
		many[fmt.Sprintf("f%04d", i)] = i
	}

	varied := flbchunk.New(flbchunk.V2)
	add := func(rec map[string]any, meta map[string]any) { varied.Add(ts, rec, meta) }
	add(map[string]any{"time": "2025-03-01T12:00:00.5Z", "level": "INFO", "msg": "slog line", "service.name": "planner",
		"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "seq": 7, "gen_ai.agent.id": "a-1",
		"percept.value": 0.729, "task.depth": 0, "ok": true, "nothing": nil}, nil)
	add(map[string]any{"message": "camel", "traceId": "4BF92F3577B34DA6A3CE929D0E0E4736", "spanId": "00F067AA0BA902B7",
		"severity": "warning", "serviceName": "svc-b", "timestamp": int64(1740830400)}, map[string]any{"source": "otel", "n": 3})
	add(map[string]any{"msg": "nested trace", "trace": map[string]any{"id": "0af7651916cd43dd8448eb211c80319c"},
		"span": map[string]any{"id": "b7ad6b7169203331"}, "log": map[string]any{"level": "error"}, "ts": 1740830400.25}, nil)
	add(map[string]any{"msg": "traceparent", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, nil)
	add(map[string]any{"msg": "bad traceparent", "traceparent": "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"}, nil)
	add(map[string]any{"msg": "zero ids", "trace_id": "00000000000000000000000000000000", "span_id": "0000000000000000"}, nil)
	add(map[string]any{"msg": "short ids", "trace_id": "abc", "span_id": 12345, "trace_flags": 1}, nil)
	add(map[string]any{"msg": "empty ids", "trace_id": "", "span_id": " "}, nil)
	add(map[string]any{"log": `{"level":"debug","msg":"docker wrapped","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","time":"2025-03-01T11:00:00Z"}`,
		"stream": "stderr", "time": "2025-03-01T11:59:59.000000001Z"}, nil)
	add(map[string]any{"log": "plain text line ERROR something failed", "stream": "stdout"}, nil)
	k8s := map[string]any{"pod_name": "p-1", "namespace_name": "ns", "labels": map[string]any{"app": "a"}}
	add(map[string]any{"log": `{"level":"warn","msg":"wrapped, merged","x":"payload","kubernetes":"payload wins"}`, "stream": "stderr",
		"kubernetes": k8s, "x": "wrapper", "time": "2025-03-01T11:59:59Z"}, nil)
	add(map[string]any{"log": `{"level":"warn","msg":"broken", "a":1, "b":`, "stream": "stdout", "kubernetes": k8s, "keep": "me"}, nil)
	add(map[string]any{"log": `{"msg":"trailing garbage"} x`, "kubernetes": k8s}, nil)
	add(map[string]any{"log": `{"msg":"dup","msg":"dup wins","a":{"b":[1,2,{"c":null}]}}`, "kubernetes": k8s}, nil)
	add(map[string]any{"log": `{"deep":` + strings.Repeat("[", 1100) + strings.Repeat("]", 1100) + `}`, "kubernetes": k8s}, nil)
	add(map[string]any{"log": `{"broken json`, "stream": "stdout"}, nil)
	add(map[string]any{"body": "otel body", "severityText": "WARN", "severityNumber": 13, "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
		"spanId": "00f067aa0ba902b7", "flags": 1, "attributes": map[string]any{"http.method": "GET"},
		"resource": map[string]any{"service.name": "otel-svc"}}, nil)
	add(map[string]any{"msg": map[string]any{"structured": []any{1, "two", 3.5}}, "level": 50}, nil)
	add(map[string]any{"msg": 12345, "lvl": "E"}, nil)
	add(map[string]any{"message": "Authorization: Bearer abcdefghijklmnop1234567890 and password=hunter2&x=1",
		"password": "s3cret", "headers": map[string]any{"Authorization": "Basic dXNlcjpwYXNz", "x-api-key": "k-123"},
		"detail": `{"token":"tok-abc-123","user":"u"}`, "url": "postgres://admin:pa55word@db.internal:5432/x",
		"keys":  []any{"sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "AKIAIOSFODNN7EXAMPLE", "ghp_" + strings.Repeat("a1", 18)},
		"jwt":   "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
		"slack": "xoxb-123456789012-abcdefghij", "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
		"upper": "PASSWORD=Loud SECRET=x", "note": "sent BeArEr abcdefghijklmnop1234567890xyz upstream",
		"mixed": "PaSsWoRd=Xy1 Token=abc api-key: no, a=b, ://", "json_in_text": `{"Api_Key": "zzz", "x": "y"}`, "already": "[REDACTED:custom]", "stripe": "sk_live_abcdefghijklmnop1234"}, nil)
	add(map[string]any{"msg": "no secrets here, just a long lorem ipsum " + strings.Repeat("dolor sit amet ", 40)}, nil)
	add(map[string]any{"msg": "escapes \"quoted\" back\\slash\n\t\r\x01\x1f \u2028\u2029 <html>&amp; é 日本 🙂",
		"ctl\nkey": "v", "quote\"key": "\x7f", "emoji🙂": "ok"}, nil)
	add(map[string]any{"msg": "content", "gen_ai.prompt": longText, "gen_ai": map[string]any{"completion": longText},
		"tool.output": map[string]any{"big": longText}}, nil)
	add(map[string]any{"msg": "deep", "deep": deep}, nil)
	add(many, nil)
	add(map[string]any{"msg": "typed key conflicts", "trace.id": "4bf92f3577b34da6a3ce929d0e0e4736",
		"agentobs.flags": "user", "event.dataset": "ds", "event.id": "upstream-id-1", "agentobs.canary": "fake",
		"agentobs": map[string]any{"canary": "x", "other": 1}, "@timestamp": "2025-03-01T12:00:01Z"}, nil)
	add(map[string]any{"msg": "session", "session_id": "s-1", "conversationId": 42, "service_version": "1.2.3",
		"kubernetes": map[string]any{"pod_name": "p-1", "namespace_name": "ns", "labels": map[string]any{"app.kubernetes.io/version": "9.9"}}}, nil)
	add(map[string]any{"msg": "numbers", "i8": -5, "i16": -300, "i32": -70000, "i64": int64(math.MinInt64), "u64": uint64(math.MaxUint64),
		"f32": float32(1.5), "tiny": 1e-9, "huge": 1e300, "neg0": math.Copysign(0, -1), "nan": math.NaN(), "inf": math.Inf(1),
		"arr": []any{[]any{}, map[string]any{}, nil, false}}, nil)
	add(map[string]any{"msg": "same line, same nanosecond"}, nil)
	add(map[string]any{"msg": "same line, same nanosecond"}, nil)
	add(map[string]any{}, nil)

	raw := func(body func(e *msgpack.Encoder)) []byte { return rawEvent(ts.Add(time.Second), body) }
	var odd bytes.Buffer
	// Binary (bin 8) and invalid UTF-8 strings, in keys, values and nesting.
	odd.Write(raw(func(e *msgpack.Encoder) {
		must(e.EncodeMapLen(6))
		must(e.EncodeString("msg"))
		must(e.EncodeBytes([]byte("binary message")))
		must(e.EncodeString("bad\xffkey"))
		must(e.EncodeString("bad \xc3\x28 value"))
		must(e.EncodeString("bin"))
		must(e.EncodeBytes([]byte{0x00, 0x01, 0xfe, 0xff}))
		must(e.EncodeString("nested"))
		must(e.EncodeMapLen(2))
		must(e.EncodeString("inner\xfe"))
		must(e.EncodeString("x\xe2\x82"))
		must(e.EncodeString("list"))
		must(e.EncodeArrayLen(2))
		must(e.EncodeString("ok"))
		must(e.EncodeBytes([]byte("\xed\xa0\x80 surrogate")))
		must(e.EncodeString("trace_id"))
		must(e.EncodeBytes([]byte("4bf92f3577b34da6a3ce929d0e0e4736")))
		must(e.EncodeString("level"))
		must(e.EncodeBytes([]byte("error")))
	}))
	// Non-string keys, a duplicate key (the last wins), an extension value.
	odd.Write(raw(func(e *msgpack.Encoder) {
		must(e.EncodeMapLen(7))
		must(e.EncodeInt(1))
		must(e.EncodeString("int key"))
		must(e.EncodeNil())
		must(e.EncodeString("nil key"))
		must(e.EncodeBool(true))
		must(e.EncodeString("bool key"))
		must(e.EncodeString("msg"))
		must(e.EncodeString("first"))
		must(e.EncodeString("msg"))
		must(e.EncodeString("second wins"))
		must(e.EncodeString("when"))
		must(e.EncodeExtHeader(0, 8))
		_, err := e.Writer().Write([]byte{0x67, 0xc2, 0xf5, 0x40, 0, 0, 0, 5})
		must(err)
		must(e.EncodeString("ext"))
		must(e.EncodeExtHeader(5, 3))
		_, err = e.Writer().Write([]byte("abc"))
		must(err)
	}))
	odd.Write(flbchunk.GroupStart())
	// Long keys (not interned by the decoder) and a long binary value.
	odd.Write(raw(func(e *msgpack.Encoder) {
		must(e.EncodeMapLen(2))
		must(e.EncodeString(strings.Repeat("k", 80)))
		must(e.EncodeString("long key"))
		must(e.EncodeString("payload"))
		must(e.EncodeBytes(bytes.Repeat([]byte("ab\xff"), 100)))
	}))

	v1 := flbchunk.New(flbchunk.V1)
	v1.Add(ts, map[string]any{"log": "v1 event", "kubernetes": map[string]any{"pod_name": "p"}}, nil)
	v1.Add(ts.Add(time.Millisecond), map[string]any{"msg": "v1 second", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}, nil)
	v1int := flbchunk.New(flbchunk.V1)
	v1int.Time = flbchunk.Int
	v1int.Add(ts, map[string]any{"msg": "int time"}, nil)
	v2float := flbchunk.New(flbchunk.V2)
	v2float.Time = flbchunk.Float
	v2float.Add(ts, map[string]any{"msg": "float time"}, map[string]any{"m": "meta"})

	garbage := flbchunk.New(flbchunk.V2)
	garbage.Add(ts, map[string]any{"msg": "good before garbage"}, nil)
	garbage.AddRaw([]byte{0x92, 0xc1, 0xff, 0x00})

	big := flbchunk.New(flbchunk.V2)
	big.Add(ts, map[string]any{"msg": strings.Repeat("m", 3000), "a": strings.Repeat("a", 2000), "b": strings.Repeat("b", 500),
		"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}, nil)
	big.Add(ts, map[string]any{"msg": "small"}, nil)

	retryOnce := func(call int, _ []kafka.Message) error {
		if call == 0 {
			return kafka.LeaderNotAvailable
		}
		return nil
	}
	refuseSecond := func(call int, msgs []kafka.Message) error {
		if call != 0 {
			return nil
		}
		werrs := make(kafka.WriteErrors, len(msgs))
		werrs[1] = kafka.MessageSizeTooLarge
		return werrs
	}

	type tc = struct {
		name  string
		props MapConfig
		tag   string
		chunk []byte
		reply func(call int, msgs []kafka.Message) error
	}
	return []tc{
		{"parsed bench shape", nil, "kube.agents", parsedChunk(20, time.Unix(1700000000, 0)), nil},
		{"docker bench shape", nil, "kube.agents", benchChunk(20, time.Unix(1700000000, 0)), nil},
		{"varied", nil, "app.varied", varied.Bytes(), nil},
		{"varied, redact off, key event_id", MapConfig{"Redact": "off", "Key_Strategy": "event_id"}, "app", varied.Bytes(), nil},
		{"varied, user keys, key none", MapConfig{"Message_Key": "detail", "Level_Key": "lvl", "Service_Key": "app.name",
			"Time_Key": "when", "Default_Service": "fallback-svc", "Key_Strategy": "none", "Content_Max_Bytes": "100"}, "app", varied.Bytes(), nil},
		{"odd msgpack", nil, "odd", odd.Bytes(), nil},
		{"v1 events", nil, "v1", v1.Bytes(), nil},
		{"v1 int time", nil, "v1", v1int.Bytes(), nil},
		{"v2 float time", nil, "v2", v2float.Bytes(), nil},
		{"garbage tail", nil, "bad", garbage.Bytes(), nil},
		{"oversize truncate", MapConfig{"Max_Record_Bytes": "2048"}, "big", big.Bytes(), nil},
		{"oversize dlq", MapConfig{"Max_Record_Bytes": "2048", "Oversize": "dlq"}, "big", big.Bytes(), nil},
		{"topic key", MapConfig{"Topic_Key": "event.dataset"}, "routed", varied.Bytes(), nil},
		{"retried chunk", nil, "retry", chunk(map[string]any{"msg": "a"}, map[string]any{"msg": "b"}), retryOnce},
		{"refused record", nil, "refuse", chunk(map[string]any{"msg": "a"}, map[string]any{"msg": "b"}), refuseSecond},
	}
}

// TestBuildGolden pins the Kafka messages (topic, key, headers, value) the
// output produces for a set of chunks: the per-record hot path may be
// rewritten for speed, never for output. event.id in particular must not
// move, or a chunk replayed across an upgrade would be indexed twice.
func TestBuildGolden(t *testing.T) {
	var out bytes.Buffer
	for _, c := range goldenCases() {
		fmt.Fprintf(&out, "=== %s (tag %s)\n", c.name, c.tag)
		props := MapConfig{"Canary_Interval": "0", "Marks_Interval": "0"}
		for k, v := range c.props {
			props[k] = v
		}
		props["Source"] = "golden"
		cfg, err := ParseConfig(props, 0)
		if err != nil {
			t.Fatal(err)
		}
		s := &goldenSender{out: &out, reply: c.reply, skip: cfg.Marks.Topic}
		if s.skip == "" {
			s.skip = cfg.Edge.Topic + "-marks"
		}
		o, err := New(cfg, Settings{Sender: s, Now: func() time.Time { return time.Unix(1740830400, 0) }})
		if err != nil {
			t.Fatal(err)
		}
		o.gate.cooldown = 0 // the retry follows at once
		for attempt := 0; ; attempt++ {
			rc := o.Flush(context.Background(), append([]byte(nil), c.chunk...), c.tag)
			fmt.Fprintf(&out, "flush -> %d\n", rc)
			if rc != FLBRetry || attempt > 0 {
				break
			}
		}
		o.stopMarks()
		o.stopCanary()
	}
	golden := filepath.Join("testdata", "build.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		gl, wl := strings.Split(out.String(), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("messages differ from %s at line %d (go test -update to accept):\n got: %s\nwant: %s", golden, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("messages differ from %s: %d lines, want %d", golden, len(gl), len(wl))
	}
}

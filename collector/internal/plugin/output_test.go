package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agentobs/agentobs/collector/internal/flbchunk"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
)

// fakeSender records every Send; reply decides each call's error. It
// keeps deep copies: a flush reuses its messages' memory once Send
// returned, as a real producer is done with them by then.
type fakeSender struct {
	mu    sync.Mutex
	calls [][]kafka.Message
	reply func(call int, msgs []kafka.Message) error
}

func (f *fakeSender) Send(_ context.Context, msgs []kafka.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cp := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		cp[i] = ownMessage(m)
	}
	f.calls = append(f.calls, cp)
	if f.reply != nil {
		return f.reply(len(f.calls)-1, msgs)
	}
	return nil
}

func (f *fakeSender) Close() error { return nil }

func newTestOutput(t testing.TB, s Sender, props MapConfig) *Output {
	t.Helper()
	if props == nil {
		props = MapConfig{}
	}
	props["Source"] = "unit"
	cfg, err := ParseConfig(props, 0)
	if err != nil {
		t.Fatal(err)
	}
	o, err := New(cfg, Settings{Sender: s})
	if err != nil {
		t.Fatal(err)
	}
	// These tests retry a chunk as soon as it failed (Fluent Bit waits
	// seconds); TestFlushWhileKafkaDownIsDeferred covers the cooldown.
	o.gate.cooldown = 0
	return o
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func chunk(recs ...map[string]any) []byte {
	b := flbchunk.New(flbchunk.V2)
	for _, r := range recs {
		b.Add(t0, r, nil)
	}
	return b.Bytes()
}

func ids(msgs []kafka.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, kafkaclient.Header(m, publish.HeaderEventID))
	}
	return out
}

func TestFlushEventIDs(t *testing.T) {
	s := &fakeSender{}
	o := newTestOutput(t, s, nil)
	line := map[string]any{"log": "same line, same nanosecond"}
	c := chunk(line, line, map[string]any{"log": "other"})
	for range 2 {
		if rc := o.Flush(context.Background(), append([]byte(nil), c...), "app"); rc != FLBOK {
			t.Fatalf("rc %d", rc)
		}
	}
	if rc := o.Flush(context.Background(), append([]byte(nil), c...), "other.tag"); rc != FLBOK {
		t.Fatalf("rc %d", rc)
	}
	a, b, other := ids(s.calls[0]), ids(s.calls[1]), ids(s.calls[2])
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("a re-sent chunk changed ids: %v vs %v", a, b)
	}
	if a[0] == a[1] || a[0] == a[2] || a[1] == a[2] {
		t.Errorf("identical lines in one nanosecond share an id: %v", a)
	}
	for i := range a {
		if a[i] == other[i] {
			t.Errorf("another tag gives the same id")
		}
	}
	// A record that brings its own event.id keeps it.
	s.calls = nil
	o.Flush(context.Background(), chunk(map[string]any{"message": "x", "event.id": "upstream-1"}), "app")
	if got := ids(s.calls[0])[0]; got != "upstream-1" {
		t.Errorf("upstream event.id replaced by %q", got)
	}
}

func TestFlushKeyStrategies(t *testing.T) {
	rec := map[string]any{"msg": "x", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}
	for strategy, want := range map[string]func(m kafka.Message) string{
		"trace_id": func(kafka.Message) string { return "4bf92f3577b34da6a3ce929d0e0e4736" },
		"event_id": func(m kafka.Message) string { return kafkaclient.Header(m, publish.HeaderEventID) },
		"none":     func(kafka.Message) string { return "" },
	} {
		s := &fakeSender{}
		o := newTestOutput(t, s, MapConfig{"Key_Strategy": strategy})
		o.Flush(context.Background(), chunk(rec), "app")
		m := s.calls[0][0]
		if string(m.Key) != want(m) {
			t.Errorf("%s: key %q, want %q", strategy, m.Key, want(m))
		}
	}
}

func TestFlushDelivery(t *testing.T) {
	refused := fmt.Errorf("dial: %w", syscall.ECONNREFUSED)
	c := chunk(map[string]any{"log": "a"}, map[string]any{"log": "b"})
	for _, tc := range []struct {
		name      string
		reply     func(call int, msgs []kafka.Message) error
		want      int
		calls     int
		deadInDLQ int
	}{
		{"ok", nil, FLBOK, 1, 0},
		{"unreachable", func(int, []kafka.Message) error { return refused }, FLBRetry, 1, 0},
		{"timeout", func(int, []kafka.Message) error { return context.DeadlineExceeded }, FLBRetry, 1, 0},
		{"one permanent: dead-lettered, ok", func(call int, msgs []kafka.Message) error {
			if call == 0 {
				return kafka.WriteErrors{nil, kafka.MessageSizeTooLarge}
			}
			return nil
		}, FLBOK, 2, 1},
		{"permanent and retryable: retry, no DLQ yet", func(call int, msgs []kafka.Message) error {
			return kafka.WriteErrors{refused, kafka.InvalidTopic}
		}, FLBRetry, 1, 0},
		{"DLQ write fails: retry", func(call int, msgs []kafka.Message) error {
			if call == 0 {
				return kafka.WriteErrors{kafka.InvalidTopic, nil}
			}
			return refused
		}, FLBRetry, 2, 1},
		{"whole batch refused permanently", func(call int, msgs []kafka.Message) error {
			if call == 0 {
				return fmt.Errorf("produce: %w", kafka.TopicAuthorizationFailed)
			}
			return nil
		}, FLBOK, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &fakeSender{reply: tc.reply}
			o := newTestOutput(t, s, nil)
			if rc := o.Flush(context.Background(), append([]byte(nil), c...), "app"); rc != tc.want {
				t.Fatalf("rc %d, want %d", rc, tc.want)
			}
			if len(s.calls) != tc.calls {
				t.Fatalf("%d sends, want %d", len(s.calls), tc.calls)
			}
			if tc.deadInDLQ > 0 {
				dead := s.calls[1]
				if len(dead) != tc.deadInDLQ || dead[0].Topic != "agentobs-logs-dlq" || kafkaclient.Header(dead[0], kafkaclient.HeaderDLQReason) == "" {
					t.Errorf("dead letters %+v", dead)
				}
			}
		})
	}
}

func TestFlushGarbage(t *testing.T) {
	s := &fakeSender{}
	o := newTestOutput(t, s, nil)
	c := append(chunk(map[string]any{"log": "ok"}), 0xc1, 0x00)
	if rc := o.Flush(context.Background(), c, "app"); rc != FLBError {
		t.Fatalf("rc %d, want FLBError", rc)
	}
	msgs := s.calls[0]
	if len(msgs) != 2 || msgs[0].Topic != "agentobs-logs" || msgs[1].Topic != "agentobs-logs-dlq" ||
		kafkaclient.Header(msgs[1], kafkaclient.HeaderDLQReason) != "invalid" || string(msgs[1].Value) != "\xc1\x00" {
		t.Fatalf("messages %+v", msgs)
	}
	// If Kafka is down, even a garbage chunk is retried: the good records
	// must not be lost.
	s.reply = func(int, []kafka.Message) error { return syscall.ECONNRESET }
	if rc := o.Flush(context.Background(), append([]byte(nil), c...), "app"); rc != FLBRetry {
		t.Fatalf("rc %d, want FLBRetry", rc)
	}
	if rc := o.Flush(context.Background(), nil, "app"); rc != FLBOK {
		t.Fatalf("empty chunk: rc %d", rc)
	}
}

func TestConcurrentFlushes(t *testing.T) {
	s := &fakeSender{}
	o := newTestOutput(t, s, nil)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				c := chunk(map[string]any{"log": fmt.Sprintf("w%d i%d", w, i)}, map[string]any{"log": "x"})
				if rc := o.Flush(context.Background(), c, fmt.Sprintf("t%d", w)); rc != FLBOK {
					t.Errorf("rc %d", rc)
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, call := range s.calls {
		for _, m := range call {
			if !strings.Contains(string(m.Value), `"message":"`) {
				t.Fatalf("bad value %s", m.Value)
			}
			seen[kafkaclient.Header(m, publish.HeaderEventID)] = true
		}
	}
	if len(seen) != 8*20*2-8*19 { // "x" repeats per tag with the same time: one id per tag
		t.Errorf("%d distinct ids", len(seen))
	}
}

func TestProcessSharesMetricsListener(t *testing.T) {
	p := NewProcess(io.Discard)
	// An unreachable broker: the topic check at init is skipped with a warning.
	a, err := p.Init(MapConfig{"Instance": "a", "Metrics_Addr": "127.0.0.1:0", "Brokers": noBroker})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Init(MapConfig{"Instance": "b", "Metrics_Addr": "127.0.0.1:0", "Brokers": noBroker}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Init(MapConfig{"Instance": "a", "Brokers": noBroker}); err == nil {
		t.Error("a second instance named a was accepted")
	}
	if _, err := p.Init(MapConfig{"Key_Strategy": "x"}); err == nil || !strings.Contains(err.Error(), "Key_Strategy") {
		t.Errorf("bad config: %v", err)
	}
	a.sender = &fakeSender{}
	a.Flush(context.Background(), chunk(map[string]any{"log": "x"}), "app")
	res, err := http.Get("http://" + p.MetricsAddr("127.0.0.1:0") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`agentobs_collector_records_in_total{output="a"} 1`, `agentobs_collector_records_in_total{output="b"} 0`,
		`agentobs_collector_flushes_total{output="a",result="ok"} 1`, `agentobs_collector_flushes_total{output="b",result="retry"} 0`,
		`agentobs_collector_flush_duration_seconds_count{output="a"} 1`, `agentobs_collector_decode_errors_total{output="a"} 0`,
		`agentobs_collector_produce_errors_total{reason="unreachable"} 0`, `agentobs_collector_dead_letters_total{reason="too_large"} 0`,
		`agentobs_collector_produce_duration_seconds_bucket`, `agentobs_collector_produce_batch_records_bucket`,
		`agentobs_collector_produced_bytes_total`, `agentobs_collector_redactions_total`, "\nagentobs_collector_ready 1\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if err := p.Exit(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + p.MetricsAddr("127.0.0.1:0") + "/metrics"); err == nil {
		t.Log("listener map cleared after exit")
	}
	if err := errors.Join(a.Close(context.Background())); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// noBroker refuses connections at once.
const noBroker = "127.0.0.1:1"

// TestProcessReloadKeepsNames: Fluent Bit 5.x's hot reload calls
// FLBPluginExitCtx for every instance, then FLBPluginInit for the new
// configuration in the same process. The closed instances must release
// their names: a named Instance is accepted again and default names start
// again at agentobs.0 instead of moving on (and closed outputs piling up).
func TestProcessReloadKeepsNames(t *testing.T) {
	p := NewProcess(io.Discard)
	defer p.Exit(5 * time.Second)
	load := func() []*Output {
		t.Helper()
		var outs []*Output
		for _, c := range []MapConfig{{"Instance": "main"}, {}, {}} {
			c["Brokers"] = noBroker
			o, err := p.Init(c)
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, o)
		}
		return outs
	}
	want := []string{"main", "agentobs.0", "agentobs.1"}
	for reload := range 3 {
		outs := load()
		if got := p.Outputs(); !slices.Equal(got, want) {
			t.Fatalf("reload %d: outputs %v, want %v", reload, got, want)
		}
		for _, o := range outs {
			if err := p.CloseOutput(o, 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		if got := p.Outputs(); len(got) != 0 {
			t.Fatalf("reload %d: closed outputs still live: %v", reload, got)
		}
	}
	// A gap left by a closed default-named output is reused first.
	outs := load()
	if err := p.CloseOutput(outs[1], 5*time.Second); err != nil {
		t.Fatal(err)
	}
	o, err := p.Init(MapConfig{"Brokers": noBroker})
	if err != nil {
		t.Fatal(err)
	}
	if o.Config().Instance != "agentobs.0" {
		t.Errorf("new output named %s, want agentobs.0", o.Config().Instance)
	}
}

func counterValue(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// TestFlushEventIDsPinned pins the plugin's event.id for a fixed chunk
// (two identical events in one nanosecond and a third): ids must stay
// byte-identical across releases and refactors, or a chunk retried across
// an upgrade would be indexed twice.
func TestFlushEventIDsPinned(t *testing.T) {
	s := &fakeSender{}
	o := newTestOutput(t, s, nil)
	line := map[string]any{"log": "same line, same nanosecond"}
	if rc := o.Flush(context.Background(), chunk(line, line, map[string]any{"log": "other"}), "app"); rc != FLBOK {
		t.Fatalf("rc %d", rc)
	}
	want := []string{"c688861b3ff9a125c9544b13c57a57d6", "0dad8689560571d526e1bfd5af4dd683", "f65c0665a96718cd41db5f275e9ec55b"}
	if got := ids(s.calls[0]); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("event ids changed:\n got %q\nwant %q", got, want)
	}
}

// Build-2 of issue 18: Close publishes the instance's final high-water
// mark (every sequence number it stamped) on <Topic>-marks, so the audit
// tells a clean end from loss at the end of the sequence.
func TestClosePublishesFinalMark(t *testing.T) {
	s := &fakeSender{}
	o := newTestOutput(t, s, MapConfig{"Topic": "logs"})
	if ret := o.Flush(context.Background(), chunk(map[string]any{"log": "a"}, map[string]any{"log": "b"}), "t"); ret != FLBOK {
		t.Fatalf("flush = %d", ret)
	}
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	last := s.calls[len(s.calls)-1]
	if len(last) != 1 || last[0].Topic != "logs-marks" {
		t.Fatalf("last send %v, want one mark on logs-marks", last)
	}
	mk, err := publish.ParseMark(last[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if mk.FirstSeq != 1 || mk.LastSeq != 2 || !mk.Final || mk.Component != "collector" {
		t.Fatalf("mark %+v, want seqs 1..2, final", mk)
	}
}

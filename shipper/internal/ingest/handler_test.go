package ingest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/shipper/internal/queue"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// sink acknowledges (or refuses) batches synchronously and keeps them.
type sink struct {
	full    bool
	batches []*queue.Batch
}

func (s *sink) TryPut(b *queue.Batch, _ time.Duration) bool {
	if s.full {
		return false
	}
	s.batches = append(s.batches, b)
	b.Done(nil)
	return true
}

func newHandler(t testing.TB, cfg Config, token string) (*Handler, *sink, *shippermetrics.Metrics) {
	e, err := publish.New(publish.DefaultConfig(), "test", "shipper/h/http/x", 0, publish.NewMetrics(nil, "test", nil))
	if err != nil {
		t.Fatal(err)
	}
	sc := publish.DefaultConfig()
	sc.Topic = "spans"
	se, err := publish.New(sc, "test", "shipper/h/otlp-spans/x", 0, publish.NewMetrics(nil, "test", nil))
	if err != nil {
		t.Fatal(err)
	}
	s, m := &sink{}, shippermetrics.New(nil)
	return New(cfg, Settings{Host: "h", Token: token, Edge: e, SpansEdge: se, Sink: s, Metrics: m}), s, m
}

func post(h http.Handler, body string, hdr ...string) *httptest.ResponseRecorder {
	return postTo(h, PathLogs, body, hdr...)
}

func postTo(h http.Handler, path, body string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func ids(b *queue.Batch) []string {
	var out []string
	for _, m := range b.Msgs {
		out = append(out, kafkaclient.Header(m, publish.HeaderEventID))
	}
	return out
}

func TestNDJSONAndArray(t *testing.T) {
	h, s, _ := newHandler(t, DefaultConfig(), "")
	w := post(h, "{\"msg\":\"a\"}\n\n{\"msg\":\"b\"}\nplain\n")
	if w.Code != 200 || len(s.batches[0].Msgs) != 3 {
		t.Fatalf("ndjson: %d %s, %d msgs", w.Code, w.Body, len(s.batches[0].Msgs))
	}
	var a answer
	_ = json.Unmarshal(w.Body.Bytes(), &a)
	if a.Accepted != 3 {
		t.Errorf("accepted = %d", a.Accepted)
	}
	w = post(h, `[{"msg":"a"},{"msg":"b"},"text line"]`)
	if w.Code != 200 || len(s.batches[1].Msgs) != 3 {
		t.Fatalf("array: %d %s", w.Code, w.Body)
	}
	if w = post(h, `[{"msg":"a"},`); w.Code != 400 {
		t.Errorf("broken array: %d", w.Code)
	}
}

func TestBearerToken(t *testing.T) {
	h, _, m := newHandler(t, DefaultConfig(), "s3cret")
	if w := post(h, "x\n"); w.Code != 401 {
		t.Errorf("no token: %d", w.Code)
	}
	if w := post(h, "x\n", "Authorization", "Bearer nope"); w.Code != 401 {
		t.Errorf("wrong token: %d", w.Code)
	}
	if w := post(h, "x\n", "Authorization", "Bearer s3cret"); w.Code != 200 {
		t.Errorf("right token: %d %s", w.Code, w.Body)
	}
	if v := testutil.ToFloat64(m.HTTPRequests.WithLabelValues("401")); v != 2 {
		t.Errorf("401 count %v", v)
	}
}

func TestBodyLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 1024
	h, s, _ := newHandler(t, cfg, "")
	if w := post(h, strings.Repeat("x", 2000)); w.Code != 413 || len(s.batches) != 0 {
		t.Errorf("oversize body: %d", w.Code)
	}
}

func TestQueueFullIs503WithRetryAfter(t *testing.T) {
	h, s, _ := newHandler(t, DefaultConfig(), "")
	s.full = true
	w := post(h, "x\n")
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Errorf("full queue: %d retry-after %q", w.Code, w.Header().Get("Retry-After"))
	}
}

// A retry with the same Idempotency-Key maps onto the same ids; without a
// key two identical requests stay two sets of records.
func TestIdempotencyKey(t *testing.T) {
	h, s, _ := newHandler(t, DefaultConfig(), "")
	body := "{\"msg\":\"a\"}\n{\"msg\":\"a\"}\n"
	post(h, body, "Idempotency-Key", "req-1")
	post(h, body, "Idempotency-Key", "req-1")
	post(h, body)
	post(h, body)
	k1, k2, n1, n2 := ids(s.batches[0]), ids(s.batches[1]), ids(s.batches[2]), ids(s.batches[3])
	if strings.Join(k1, ",") != strings.Join(k2, ",") {
		t.Errorf("retry with key changed ids: %v vs %v", k1, k2)
	}
	if k1[0] == k1[1] {
		t.Errorf("two lines of one request share an id")
	}
	if n1[0] == n2[0] || n1[0] == k1[0] {
		t.Errorf("requests without key collide: %v %v", n1, n2)
	}
}

// holdSink keeps batches unanswered until the test answers them.
type holdSink struct{ batches []*queue.Batch }

func (s *holdSink) TryPut(b *queue.Batch, _ time.Duration) bool {
	s.batches = append(s.batches, b)
	return true
}

// A retry (same Idempotency-Key, same body) while the first attempt's
// batch still waits for Kafka joins that batch: no second copy is queued,
// and the retry is answered with Kafka's answer to the first. A different
// body under the same key, or a retry after the answer, queues its own.
func TestRetryJoinsItsBatchInFlight(t *testing.T) {
	h, _, m := newHandler(t, Config{MaxBodyBytes: 1 << 20, EnqueueWait: time.Millisecond, AckTimeout: 200 * time.Millisecond}, "")
	s := &holdSink{}
	h.set.Sink = s
	body := "{\"msg\":\"a\"}\n{\"msg\":\"b\"}\n"
	send := func(body string) *httptest.ResponseRecorder {
		return postTo(h, PathNDJSON, body, "Idempotency-Key", "k1")
	}
	if w := send(body); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("first attempt, Kafka silent: %d %s", w.Code, w.Body)
	}
	if w := send(body); w.Code != http.StatusServiceUnavailable || len(s.batches) != 1 {
		t.Fatalf("retry while the first waits: %d, %d batches queued; want 503 and 1", w.Code, len(s.batches))
	}
	if got := testutil.ToFloat64(m.IngestJoined); got != 1 {
		t.Errorf("ingest_joined_total %v, want 1", got)
	}
	if w := send("{\"msg\":\"other\"}\n"); len(s.batches) != 2 {
		t.Fatalf("another body under the key: %d, %d batches; want its own batch", w.Code, len(s.batches))
	}
	// The retry that is waiting when Kafka answers the first batch gets
	// that answer.
	res := make(chan *httptest.ResponseRecorder, 1)
	go func() { res <- send(body) }()
	for testutil.ToFloat64(m.IngestJoined) < 2 {
		time.Sleep(time.Millisecond)
	}
	s.batches[0].Done(nil)
	if w := <-res; w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"accepted":2`) {
		t.Fatalf("retry when the first batch is acknowledged: %d %s", w.Code, w.Body)
	}
	if w := send(body); len(s.batches) != 3 {
		t.Fatalf("a retry after the answer: %d, %d batches; want a batch of its own", w.Code, len(s.batches))
	}
}

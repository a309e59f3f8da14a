// Package ingest is the shipper's network front door: POST /v1/ndjson with
// NDJSON or a JSON array of records, and an OTLP receiver (otlp.go,
// grpc.go) for OTel SDKs and Collectors: OTLP/HTTP POST /v1/logs and
// /v1/traces, protobuf or JSON, and OTLP/gRPC. /v1/logs still takes NDJSON
// when the Content-Type says so (the API before OTLP). Bodies may be gzip;
// a body that is not understood (unknown Content-Type or Content-Encoding,
// broken gzip, a gzip bomb, undecodable OTLP) is refused with a 4xx and its
// reason, counted, and nothing of it is stored. A request is answered only
// after Kafka acknowledged every record of it (200), so a client that got
// 200 can forget its data; when the queue is full it gets 503 (NDJSON) or
// 429 (OTLP) with Retry-After and should retry.
//
// event.id: with an Idempotency-Key header the source is "http|"+key and
// the position is the record's index in the body, so a retried request maps
// onto the same ids and the indexer drops the copies. Without a key the
// source is random per request (see publish.HTTPSource): a retry after a lost
// response may duplicate, but two genuinely identical requests (two
// heartbeats) are never collapsed into one. A record that carries its own
// event.id keeps it.
package ingest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/shipper/internal/lines"
	"github.com/agentobs/agentobs/shipper/internal/queue"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
)

// Config of the HTTP input.
type Config struct {
	// Ingest enables the HTTP ingest (POST /v1/ndjson, /v1/logs, /v1/traces).
	// Default false.
	Ingest bool `yaml:"ingest"`
	// Token, when set, is required as "Authorization: Bearer <token>".
	// TokenFile reads it from a file instead. Default none (no auth).
	Token     config.Secret `yaml:"token"`
	TokenFile string        `yaml:"token_file"`
	// MaxBodyBytes bounds a request body; larger ones get 413. Default 5 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// EnqueueWait is how long a request waits for room in the queue before
	// it gets 503. Default 200ms.
	EnqueueWait time.Duration `yaml:"enqueue_wait"`
	// AckTimeout bounds the wait for Kafka's acknowledgement before 503.
	// Default 30s.
	AckTimeout time.Duration `yaml:"ack_timeout"`
}

// OTLPConfig is the OTLP receiver's own configuration; the token, size
// bound and timeouts are Config's, shared with the NDJSON ingest.
type OTLPConfig struct {
	// GRPCAddr is the OTLP/gRPC listen address (4317 is OTLP's port).
	// Default "" (off).
	GRPCAddr string `yaml:"grpc_addr"`
	// SpansTopic receives OTLP spans. Default "agentobs-spans".
	SpansTopic string `yaml:"spans_topic"`
}

// DefaultOTLPConfig returns the defaults documented on OTLPConfig.
func DefaultOTLPConfig() OTLPConfig { return OTLPConfig{SpansTopic: kafkaclient.DefaultSpansTopic} }

// Validate reports every problem.
func (c OTLPConfig) Validate() error {
	if c.SpansTopic == "" {
		return errors.New("otlp.spans-topic: required")
	}
	return nil
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: 5 << 20, EnqueueWait: 200 * time.Millisecond, AckTimeout: 30 * time.Second}
}

// Validate reports every problem.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("http.max-body-bytes: %d, want >= 1024", c.MaxBodyBytes))
	}
	if c.EnqueueWait <= 0 || c.AckTimeout <= 0 {
		errs = append(errs, errors.New("http.enqueue-wait and http.ack-timeout: must be positive"))
	}
	if c.Token.Value() != "" && c.TokenFile != "" {
		errs = append(errs, errors.New("http.token and http.token-file: set one, not both"))
	}
	return errors.Join(errs...)
}

// Sink is where batches go (*queue.Queue).
type Sink interface {
	TryPut(b *queue.Batch, wait time.Duration) bool
}

// Settings of the handler.
type Settings struct {
	Host           string
	DefaultService string
	Format         record.Format
	MaxLineBytes   int
	Token          string        // resolved token ("" = no auth)
	Edge           *publish.Edge // logs (and NDJSON records)
	SpansEdge      *publish.Edge // OTLP spans: the spans topic
	Sink           Sink
	Metrics        *shippermetrics.Metrics
	Lane           func() uint64
	// Producers are the lanes of Edge (its producer, lane 0, and more): a
	// request stamps its records on a lane of its own, its marks held below
	// them until it is answered, and the numbers of a refused request are
	// noted on the marks (publish.Lanes). nil: every request stamps Edge
	// and nothing is held or noted.
	Producers *publish.Lanes
}

// stamp is the producer one request stamps its logs with.
type stamp struct {
	edge   *publish.Edge
	lanes  *publish.Lanes
	lane   *publish.Lane // nil without lanes
	first  uint64        // the first number the request stamps on its lane
	unhold func()
}

// logStamp takes a lane for a request's logs (Settings.Producers), and
// holds its marks below the numbers the request will stamp; done gives
// both back.
func (s Settings) logStamp() stamp {
	if s.Producers == nil {
		return stamp{edge: s.Edge}
	}
	l := s.Producers.Acquire(nil)
	first := l.Edge().Seq() + 1
	return stamp{edge: l.Edge(), lanes: s.Producers, lane: l, first: first, unhold: s.Producers.Hold(l, first)}
}

// refuse notes the numbers the request stamped as refused to the client:
// its lane serves it alone, so they are first up to the lane's sequence.
func (st stamp) refuse() {
	if st.lane != nil && st.edge.Seq() >= st.first {
		st.lanes.Refuse(st.lane, []publish.SeqRange{{First: st.first, Last: st.edge.Seq()}})
	}
}

// done ends the request's hold on the marks and gives its lane back.
func (st stamp) done() {
	if st.lane != nil {
		st.unhold()
		st.lanes.Release(st.lane)
	}
}

// Paths the handler serves.
const (
	PathNDJSON = "/v1/ndjson" // NDJSON or a JSON array of records
	PathLogs   = "/v1/logs"   // OTLP/HTTP logs; NDJSON as before OTLP when the Content-Type says so
	PathTraces = "/v1/traces" // OTLP/HTTP traces
)

// Handler serves the HTTP ingest: POST /v1/ndjson, /v1/logs, /v1/traces.
type Handler struct {
	cfg      Config
	set      Settings
	otlp     *Receiver
	inflight inflight // keyed NDJSON requests waiting for Kafka (inflight.go)
}

// New builds the handler.
func New(cfg Config, set Settings) *Handler {
	return &Handler{cfg: cfg, set: set, otlp: NewReceiver(cfg, set)}
}

// Receiver is the OTLP receiver behind the handler, for the gRPC server.
func (h *Handler) Receiver() *Receiver { return h.otlp }

// Register adds the ingest routes to mux.
func (h *Handler) Register(mux interface{ Handle(string, http.Handler) }) {
	for _, p := range []string{PathNDJSON, PathLogs, PathTraces} {
		mux.Handle("POST "+p, h)
	}
}

// ServeHTTP serves every ingest path; the path and Content-Type decide what
// the body is, and a body that is not understood is refused with a 4xx and
// its reason, never stored.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k, isProto, ref := classify(r.URL.Path, r.Header.Get("Content-Type"))
	if ref == nil && !authorized(h.set.Token, r.Header.Get("Authorization")) {
		ref = refuse(http.StatusUnauthorized, shippermetrics.RefusedUnauthorized, "missing or wrong bearer token")
	}
	var body []byte
	if ref == nil {
		body, ref = readBody(w, r, h.cfg.MaxBodyBytes)
	}
	if ref == nil && k == kindNDJSON {
		if sk, otlp := looksOTLPJSON(body); otlp {
			switch {
			case r.URL.Path == PathNDJSON:
				ref = refuse(http.StatusUnsupportedMediaType, shippermetrics.RefusedUnsupportedMedia,
					"the body is an OTLP/JSON export request: POST it to %s or %s; %s takes NDJSON", PathLogs, PathTraces, PathNDJSON)
			case sk != kindOTLPLogs:
				ref = refuse(http.StatusBadRequest, shippermetrics.RefusedBadBody,
					"the body is an OTLP/JSON traces request: POST it to %s", PathTraces)
			default:
				k = sk
			}
		}
	}
	res := result{refusal: ref}
	if ref == nil {
		switch k {
		case kindNDJSON:
			res = h.ndjson(r, body)
		case kindOTLPLogs:
			res = h.otlp.logsHTTP(r.Context(), body, isProto)
		case kindOTLPTraces:
			res = h.otlp.tracesHTTP(r.Context(), body, isProto)
		}
	}
	if k != kindNDJSON || r.URL.Path == PathTraces || isProto {
		h.otlp.writeHTTP(w, isProto, res)
	} else {
		h.writeNDJSON(w, res)
	}
	h.count(res)
}

// result is the outcome of one request.
type result struct {
	refusal  *refusal // nil: accepted (code 200)
	accepted int
	rejected int64  // OTLP partial success: items not accepted
	partial  string // and why
	signal   string // OTLP: shippermetrics.SignalLogs or SignalSpans
}

func (r result) code() int {
	if r.refusal != nil {
		return r.refusal.code
	}
	return http.StatusOK
}

func (h *Handler) count(res result) {
	h.set.Metrics.HTTPRequests.WithLabelValues(strconv.Itoa(res.code())).Inc()
	if res.refusal != nil {
		h.set.Metrics.IngestRefused.WithLabelValues(res.refusal.reason).Inc()
	}
}

func authorized(token, header string) bool {
	if token == "" {
		return true
	}
	got, ok := strings.CutPrefix(header, "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

type answer struct {
	Accepted int    `json:"accepted,omitempty"`
	Error    string `json:"error,omitempty"`
}

func (h *Handler) writeNDJSON(w http.ResponseWriter, res result) {
	code := res.code()
	if code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	a := answer{Accepted: res.accepted}
	if res.refusal != nil {
		a.Error = res.refusal.msg
	}
	_ = json.NewEncoder(w).Encode(a)
}

func (h *Handler) ndjson(r *http.Request, body []byte) result {
	items, err := split(body)
	if err != nil {
		return result{refusal: refuse(http.StatusBadRequest, shippermetrics.RefusedBadBody, "%v", err)}
	}
	p := newPending(0)
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if q, joined := h.inflight.join(key, body, p); joined {
			h.set.Metrics.IngestJoined.Inc()
			if ref := await(r.Context(), q, h.cfg, http.StatusServiceUnavailable); ref != nil {
				return result{refusal: ref}
			}
			return result{accepted: q.n}
		}
	}
	st := h.set.logStamp()
	defer st.done()
	b := h.build(r, items, st.edge)
	p.n = len(b.Msgs)
	if ref := deliver(r.Context(), h.set.Sink, st, b, p, h.cfg, http.StatusServiceUnavailable); ref != nil {
		return result{refusal: ref}
	}
	return result{accepted: p.n}
}

// deliver enqueues b, stamped by st, and waits for Kafka's acknowledgement
// of every message in it (p, finished by b's Done): a client is answered
// 2xx only for what Kafka holds. full is the status when the queue has no
// room (the NDJSON API keeps its 503; OTLP answers 429). A refusal notes
// b's sequence numbers as refused.
func deliver(ctx context.Context, sink Sink, st stamp, b *queue.Batch, p *pending, cfg Config, full int) *refusal {
	b.Done = p.finish
	if !sink.TryPut(b, cfg.EnqueueWait) {
		p.finish(errQueueFull)
	}
	ref := await(ctx, p, cfg, full)
	if ref != nil {
		st.refuse()
	}
	return ref
}

// await waits for Kafka's answer to p's batch, at most cfg.AckTimeout.
func await(ctx context.Context, p *pending, cfg Config, full int) *refusal {
	t := time.NewTimer(cfg.AckTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		switch {
		case errors.Is(p.err, errQueueFull):
			return refuse(full, shippermetrics.RefusedQueueFull, "queue full: Kafka is slow or down, retry later")
		case p.err != nil:
			return refuse(http.StatusServiceUnavailable, shippermetrics.RefusedNotDelivered, "not delivered: %v", p.err)
		}
		return nil
	case <-t.C:
		return refuse(http.StatusServiceUnavailable, shippermetrics.RefusedNotDelivered,
			"Kafka did not acknowledge in time; retry (with the same Idempotency-Key for NDJSON)")
	case <-ctx.Done():
		return refuse(http.StatusServiceUnavailable, shippermetrics.RefusedNotDelivered, "request cancelled before Kafka acknowledged")
	}
}

// split returns the records of an NDJSON body or a JSON array as raw lines.
func split(body []byte) ([][]byte, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(trimmed, &arr); err != nil {
			return nil, fmt.Errorf("body starts with '[' but is not a JSON array: %w", err)
		}
		out := make([][]byte, len(arr))
		for i, raw := range arr {
			var s string
			if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
				out[i] = []byte(s) // a string element is a plain-text line
			} else {
				out[i] = raw
			}
		}
		return out, nil
	}
	return bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")), nil
}

func (h *Handler) build(r *http.Request, items [][]byte, e *publish.Edge) *queue.Batch {
	p := record.NewParser(record.ParseOptions{Format: h.set.Format, MaxLineBytes: h.set.MaxLineBytes, DefaultService: h.set.DefaultService, ReuseValues: true})
	fields := map[string]any{"host.name": h.set.Host, record.FieldSource: "http"}
	bd := queue.NewBuilder(p, e, publish.HTTPSource(r.Header.Get("Idempotency-Key")), shippermetrics.InputHTTP, fields, h.set.Metrics, 0)
	var off int64
	for i, it := range items {
		l := lines.Line{Data: bytes.TrimSuffix(it, []byte("\r")), Start: off, End: off + int64(len(it)) + 1}
		if h.set.MaxLineBytes > 0 && len(l.Data) > h.set.MaxLineBytes {
			l.Truncated, l.Original, l.Data = true, int64(len(l.Data)), l.Data[:h.set.MaxLineBytes]
		}
		off = l.End
		bd.Add(l, int64(i))
	}
	bd.Flush()
	var lane uint64
	if h.set.Lane != nil {
		lane = h.set.Lane()
	}
	b := bd.Take()
	b.Lane = lane
	return b
}

// ResolveToken returns the configured token (inline or from the file).
func ResolveToken(c Config) (string, error) {
	return config.Resolve(c.Token, c.TokenFile)
}

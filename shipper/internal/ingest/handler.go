// Package ingest is the shipper's HTTP front door: POST /v1/logs with
// NDJSON or a JSON array of records. The request is answered only after
// Kafka acknowledged every record of it (200), so a client that got 200 can
// forget its logs; when the queue is full it gets 503 with Retry-After and
// should retry.
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
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/internal/telemetry"
	"github.com/agentobs/agentobs/shipper/internal/lines"
	"github.com/agentobs/agentobs/shipper/internal/queue"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
)

// Config of the HTTP input.
type Config struct {
	// Ingest enables POST /v1/logs. Default false.
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
	Token          string // resolved token ("" = no auth)
	Edge           *publish.Edge
	Sink           Sink
	Metrics        *shippermetrics.Metrics
	Lane           func() uint64
}

// Handler serves POST /v1/logs.
type Handler struct {
	cfg Config
	set Settings
}

// New builds the handler.
func New(cfg Config, set Settings) *Handler { return &Handler{cfg: cfg, set: set} }

// ServeHTTP implements POST /v1/logs.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code, body := h.serve(w, r)
	h.set.Metrics.HTTPRequests.WithLabelValues(strconv.Itoa(code)).Inc()
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

type answer struct {
	Accepted int    `json:"accepted,omitempty"`
	Error    string `json:"error,omitempty"`
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) (int, answer) {
	if h.set.Token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(h.set.Token)) != 1 {
			return http.StatusUnauthorized, answer{Error: "missing or wrong bearer token"}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge, answer{Error: fmt.Sprintf("body over %d bytes (http.max-body-bytes)", h.cfg.MaxBodyBytes)}
	}
	if telemetry.IsBodyTimeout(err) {
		return http.StatusRequestTimeout, answer{Error: "body not received within http.body-timeout"}
	}
	if err != nil {
		return http.StatusBadRequest, answer{Error: "reading body: " + err.Error()}
	}
	items, err := split(body)
	if err != nil {
		return http.StatusBadRequest, answer{Error: err.Error()}
	}
	b := h.build(r, items)
	n := len(b.Msgs)
	done := make(chan error, 1)
	b.Done = func(err error) { done <- err }
	if !h.set.Sink.TryPut(b, h.cfg.EnqueueWait) {
		return http.StatusServiceUnavailable, answer{Error: "queue full: Kafka is slow or down, retry later"}
	}
	t := time.NewTimer(h.cfg.AckTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return http.StatusServiceUnavailable, answer{Error: "not delivered: " + err.Error()}
		}
		return http.StatusOK, answer{Accepted: n}
	case <-t.C:
		return http.StatusServiceUnavailable, answer{Error: "Kafka did not acknowledge in time; retry with the same Idempotency-Key"}
	case <-r.Context().Done():
		return http.StatusServiceUnavailable, answer{Error: "request cancelled"}
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

func (h *Handler) build(r *http.Request, items [][]byte) *queue.Batch {
	p := record.NewParser(record.ParseOptions{Format: h.set.Format, MaxLineBytes: h.set.MaxLineBytes, DefaultService: h.set.DefaultService})
	fields := map[string]any{"host.name": h.set.Host, record.FieldSource: "http"}
	bd := queue.NewBuilder(p, h.set.Edge, publish.HTTPSource(r.Header.Get("Idempotency-Key")), shippermetrics.InputHTTP, fields, h.set.Metrics, 0)
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
	return &queue.Batch{Msgs: bd.Take(), Lane: lane}
}

// ResolveToken returns the configured token (inline or from the file).
func ResolveToken(c Config) (string, error) {
	return config.Resolve(c.Token, c.TokenFile)
}

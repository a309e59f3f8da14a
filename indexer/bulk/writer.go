package bulk

import (
	"bytes"
	"context"
	"encoding/json"

	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
)

// Config tunes request sizes and retries.
type Config struct {
	// MaxBytes is the largest bulk body the batcher aims for; the target
	// adapts below it (see Writer.TargetBytes). Default 5 MiB.
	MaxBytes int
	// MinBytes is the smallest target after repeated 429s. Default 256 KiB.
	MinBytes int
	// InitialBackoff is the first retry delay. Default 100ms.
	InitialBackoff time.Duration
	// MaxBackoff caps the delay between retries. Default 10s.
	MaxBackoff time.Duration
	// DownAfter is the number of consecutive failed attempts after which the
	// writer reports Elasticsearch as down (not ready). Retrying continues at
	// MaxBackoff for as long as it takes: a record is never dead-lettered
	// because the cluster is unavailable. Default 5.
	DownAfter int
	// MaxConflictRounds bounds how many fields of one document are
	// quarantined one by one before the whole source is. Default 3.
	MaxConflictRounds int
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{MaxBytes: 5 << 20, MinBytes: 256 << 10, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second, DownAfter: 5, MaxConflictRounds: 3}
}

// Observer receives the writer's measurements (the indexer's metrics).
type Observer interface {
	Bulk(d time.Duration, docs int, err error)
	Retry(reason string, n int)
	ESUp(up bool)
	// Built reports the time spent encoding one request body.
	Built(d time.Duration)
	// Target reports a new adaptive request size in bytes.
	Target(bytes int)
}

// Writer sends batches to Elasticsearch. It is safe for concurrent use;
// each Write call is one batch.
type Writer struct {
	es   *elasticsearch.Client
	cfg  Config
	obs  Observer
	log  *slog.Logger
	up   atomic.Bool
	fail atomic.Int64 // consecutive failed attempts, over all batches
	// bufs are request bodies kept for reuse: one per request in flight,
	// each sized once for MaxBytes. Not a sync.Pool: a pool drops its
	// buffers at every garbage collection, and re-growing an 8 MiB body by
	// doubling left tens of MiB of garbage per request, most of the peak RSS.
	bufMu sync.Mutex
	bufs  [][]byte
	// target is the body size the batcher aims for: halved on every
	// request that Elasticsearch pushes back on (429 or rejected items),
	// grown by an eighth after each clean one, within [MinBytes, MaxBytes]
	// (additive-increase/multiplicative-decrease, as TCP does).
	target atomic.Int64
}

// NewWriter builds a writer. obs may be nil.
func NewWriter(es *elasticsearch.Client, cfg Config, obs Observer, log *slog.Logger) *Writer {
	if obs == nil {
		obs = nopObserver{}
	}
	w := &Writer{es: es, cfg: cfg, obs: obs, log: log.With("component", "bulk")}
	w.up.Store(true)
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultConfig().MaxBytes
	}
	w.cfg.MinBytes = min(max(cfg.MinBytes, 1), cfg.MaxBytes)
	w.cfg.MaxBytes = cfg.MaxBytes
	w.target.Store(int64(cfg.MaxBytes))
	w.obs.Target(cfg.MaxBytes)
	return w
}

// TargetBytes is the request size batches should aim for now.
func (w *Writer) TargetBytes() int { return int(w.target.Load()) }

// adapt moves the target: down by half when Elasticsearch pushed back, up by
// an eighth after a clean request.
func (w *Writer) adapt(pushedBack bool) {
	for {
		old := w.target.Load()
		next := old + old/8
		if pushedBack {
			next = old / 2
		}
		next = min(max(next, int64(w.cfg.MinBytes)), int64(w.cfg.MaxBytes))
		if next == old {
			return
		}
		if w.target.CompareAndSwap(old, next) {
			w.obs.Target(int(next))
			return
		}
	}
}

// Up reports whether the last attempts reached Elasticsearch.
func (w *Writer) Up() bool { return w.up.Load() }

type conflictRounds = int

// Write indexes items and returns when each has a final Outcome, or with
// ctx's error (items left Pending were not acknowledged). Retryable failures
// (429, 5xx, rejected execution, transport errors) are retried with
// exponential backoff and full jitter, forever; mapping conflicts are
// quarantined and re-sent; other failures become dead letters.
func (w *Writer) Write(ctx context.Context, items []*Item) error {
	todo := make([]*Item, 0, len(items))
	for _, it := range items {
		if it.Outcome == Pending {
			todo = append(todo, it)
		}
	}
	rounds := map[*Item]conflictRounds{}
	attempt := 0
	for len(todo) > 0 {
		res, reason, err := w.send(ctx, todo)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			w.failed(err, len(todo), reason)
			if reason == RetryTooMany {
				w.adapt(true)
			}
			if err := w.sleep(ctx, attempt); err != nil {
				return err
			}
			attempt++
			continue
		}
		w.succeeded()
		var again []*Item
		backoff, tooMany := false, false
		for i, it := range todo {
			class, rreason := Classify(res[i])
			switch class {
			case ClassOK:
				if len(it.Conflicts) > 0 {
					it.Outcome = Quarantined
				} else {
					it.Outcome = Indexed
				}
			case ClassDuplicate:
				it.Outcome = Duplicate
			case ClassRetry:
				w.obs.Retry(rreason, 1)
				again, backoff = append(again, it), true
				tooMany = tooMany || rreason == RetryTooMany
			case ClassConflict:
				if it.Err == nil {
					it.Err = res[i].Error
				}
				if rounds[it] >= w.cfg.MaxConflictRounds {
					it.Outcome, it.Reason = DeadLetter, ReasonMappingConflict
					continue
				}
				rounds[it]++
				field := ConflictField(res[i].Error)
				if rounds[it] == w.cfg.MaxConflictRounds {
					field = "" // last round: quarantine the whole source
				}
				src, moved, qerr := Quarantine(it.Source, field)
				if qerr != nil {
					it.Outcome, it.Reason = DeadLetter, ReasonMappingConflict
					continue
				}
				it.Source, it.Conflicts, it.Reason = src, append(it.Conflicts, moved), ReasonMappingConflict
				again = append(again, it)
			default:
				it.Outcome, it.Reason, it.Err = DeadLetter, ReasonRejected, res[i].Error
			}
		}
		todo = again
		w.adapt(tooMany)
		if backoff {
			if err := w.sleep(ctx, attempt); err != nil {
				return err
			}
			attempt++
		} else {
			attempt = 0
		}
	}
	return nil
}

func (w *Writer) failed(err error, n int, reason string) {
	w.obs.Retry(reason, n)
	if c := w.fail.Add(1); c == int64(w.cfg.DownAfter) {
		w.up.Store(false)
		w.obs.ESUp(false)
		w.log.Warn("elasticsearch unavailable; holding batches and retrying", "err", err)
	}
}

func (w *Writer) succeeded() {
	w.fail.Store(0)
	if !w.up.Swap(true) {
		w.obs.ESUp(true)
		w.log.Info("elasticsearch reachable again")
	}
}

// sleep waits a full-jitter exponential backoff: uniform in [0, min(max, initial·2^attempt)].
func (w *Writer) sleep(ctx context.Context, attempt int) error {
	d := w.cfg.InitialBackoff << min(attempt, 20)
	if d <= 0 || d > w.cfg.MaxBackoff {
		d = w.cfg.MaxBackoff
	}
	d = time.Duration(rand.Int64N(int64(d)) + 1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AppendAction appends the NDJSON action line and the source of it.
func AppendAction(buf []byte, it *Item) []byte {
	buf = append(buf, `{"`...)
	buf = append(buf, it.Op...)
	buf = append(buf, `":{"_index":`...)
	buf = appendString(buf, it.Index)
	buf = append(buf, `,"_id":`...)
	buf = appendString(buf, it.ID)
	buf = append(buf, "}}\n"...)
	buf = append(buf, it.Source...)
	return append(buf, '\n')
}

func appendString(buf []byte, s string) []byte {
	if !strings.ContainsAny(s, "\"\\\n\r\t") && isPrintableASCII(s) {
		buf = append(buf, '"')
		buf = append(buf, s...)
		return append(buf, '"')
	}
	b, _ := json.Marshal(s)
	return append(buf, b...)
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func (w *Writer) getBuf() []byte {
	w.bufMu.Lock()
	defer w.bufMu.Unlock()
	if n := len(w.bufs); n > 0 {
		b := w.bufs[n-1]
		w.bufs = w.bufs[:n-1]
		return b[:0]
	}
	// The batcher flushes at MaxBytes of sources; action lines add ~1/8.
	return make([]byte, 0, w.cfg.MaxBytes+w.cfg.MaxBytes/8)
}

func (w *Writer) putBuf(b []byte) {
	w.bufMu.Lock()
	defer w.bufMu.Unlock()
	w.bufs = append(w.bufs, b[:0])
}

// send performs one _bulk request. A non-nil error means the whole request
// failed and should be retried; reason is the retry reason.
func (w *Writer) send(ctx context.Context, items []*Item) ([]ResponseItem, string, error) {
	b := w.getBuf()
	start := time.Now()
	for _, it := range items {
		b = AppendAction(b, it)
	}
	defer func() { w.putBuf(b) }() // keep the (possibly grown) array for the next batch
	w.obs.Built(time.Since(start))
	start = time.Now()
	res, err := w.es.Bulk(bytes.NewReader(b), w.es.Bulk.WithContext(ctx),
		w.es.Bulk.WithFilterPath("errors", "items.*.status", "items.*.error.type", "items.*.error.reason", "items.*.error.caused_by"))
	if err != nil {
		w.obs.Bulk(time.Since(start), len(items), err)
		return nil, RetryUnreachable, fmt.Errorf("bulk: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500 {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		err := fmt.Errorf("bulk: %s: %s", res.Status(), msg)
		w.obs.Bulk(time.Since(start), len(items), err)
		if res.StatusCode == http.StatusTooManyRequests {
			return nil, RetryTooMany, err
		}
		return nil, RetryServer, err
	}
	if res.IsError() {
		// A 4xx for the whole request (e.g. 413 body too large) would fail
		// again unchanged; the caller's per-item size check prevents it, so
		// treat it as a server-side problem and keep retrying loudly.
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		err := fmt.Errorf("bulk: %s: %s", res.Status(), msg)
		w.obs.Bulk(time.Since(start), len(items), err)
		w.log.Error("bulk request rejected", "status", res.StatusCode, "err", err)
		return nil, RetryServer, err
	}
	items2, err := ParseResponse(res.Body, len(items))
	w.obs.Bulk(time.Since(start), len(items), err)
	if err != nil {
		return nil, RetryServer, err
	}
	return items2, "", nil
}

type nopObserver struct{}

func (nopObserver) Bulk(time.Duration, int, error) {}
func (nopObserver) Retry(string, int)              {}
func (nopObserver) ESUp(bool)                      {}
func (nopObserver) Built(time.Duration)            {}
func (nopObserver) Target(int)                     {}

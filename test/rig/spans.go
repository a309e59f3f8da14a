package rig

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// SpanLoad is a stream of OTLP spans a rig sends to a front door's
// OTLP/HTTP endpoint (the shipper's POST /v1/traces), so a run's ledger
// can count spans beside log records.
type SpanLoad struct {
	URL   string // e.g. http://127.0.0.1:9401/v1/traces
	RunID string // attribute loadgen.run_id of every span (what CountRun selects)
	Spans int    // how many
	Rate  int    // spans per second
	Batch int    // spans per request (default 50)
}

// SpanReport is what a span load did: Sent spans acknowledged (2xx: the
// shipper answers only after Kafka acknowledged them), Retries of
// requests that failed (a killed or refusing front door) and were sent
// again. A retried batch carries the same trace and span ids, so it lands
// as the same documents.
type SpanReport struct {
	Sent, Retries int64
	Err           error
}

// SendSpans sends l in the background: span i has attributes
// loadgen.run_id and seq = i, a trace and span id derived from the run and
// i (traces of 5 spans each), and each request is retried until it is
// acknowledged or ctx ends.
func SendSpans(ctx context.Context, l SpanLoad) <-chan SpanReport {
	if l.Batch <= 0 {
		l.Batch = 50
	}
	out := make(chan SpanReport, 1)
	go func() {
		var rep SpanReport
		start := time.Now()
		cl := &http.Client{Timeout: 15 * time.Second}
		for from := 0; from < l.Spans; from += l.Batch {
			n := min(l.Batch, l.Spans-from)
			if l.Rate > 0 { // pace: batch k leaves at k·Batch/Rate
				if d := time.Until(start.Add(time.Duration(float64(from) / float64(l.Rate) * float64(time.Second)))); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						rep.Err = ctx.Err()
						out <- rep
						return
					}
				}
			}
			body := spanBody(l.RunID, from, n)
			for {
				err := postSpans(ctx, cl, l.URL, body)
				if err == nil {
					break
				}
				rep.Retries++
				select {
				case <-time.After(250 * time.Millisecond):
				case <-ctx.Done():
					rep.Err = fmt.Errorf("spans %d-%d: %w (last: %v)", from, from+n, ctx.Err(), err)
					out <- rep
					return
				}
			}
			rep.Sent += int64(n)
		}
		out <- rep
	}()
	return out
}

func postSpans(ctx context.Context, cl *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := cl.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", url, res.Status)
	}
	return nil
}

// spanBody is an OTLP/JSON ExportTraceServiceRequest with spans from..from+n.
func spanBody(runID string, from, n int) []byte {
	var b strings.Builder
	b.WriteString(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"chaos-agent"}}]},"scopeSpans":[{"scope":{"name":"rig"},"spans":[`)
	now := time.Now().UnixNano()
	for i := from; i < from+n; i++ {
		if i > from {
			b.WriteByte(',')
		}
		trace := spanHex(runID, "t", i/5, 16)
		span := spanHex(runID, "s", i, 8)
		fmt.Fprintf(&b, `{"traceId":%q,"spanId":%q,"name":"step","kind":1,"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[{"key":"loadgen.run_id","value":{"stringValue":%q}},{"key":"seq","value":{"intValue":"%d"}}]}`,
			trace, span, now, now+int64(time.Millisecond), runID, i)
	}
	b.WriteString(`]}]}]}`)
	return []byte(b.String())
}

// spanHex is a stable id of size bytes for (runID, kind, i), never all zero.
func spanHex(runID, kind string, i, size int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%d", runID, kind, i))
	h[0] |= 1
	return hex.EncodeToString(h[:size])
}

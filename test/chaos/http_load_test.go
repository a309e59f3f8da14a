package chaos_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/loadgen"
)

// httpClients and httpBatch shape the HTTP front door's load: as many
// clients posting NDJSON requests of that many records at once, in bursts.
const httpClients, httpBatch = 32, 100

// httpLoad makes the shipper's HTTP ingest the front door: the load
// generator's records go out as NDJSON requests of httpBatch records from
// httpClients concurrent clients, a burst of httpClients requests at a
// time, the bursts paced at cfg.Rate (concurrent requests build their
// batches at the same time, so they reach Kafka in another order than
// they took their producer numbers). Each request is sent
// again, with its Idempotency-Key, until it is answered 200, as a client
// answered 503 or cut off by a crash must; the report is sent once every
// request was acknowledged. The answers other than 200 are noted.
func (r *chaosRig) httpLoad(cfg loadgen.Config) <-chan loadgen.Report {
	t := r.t
	var lines [][]byte
	rep, err := loadgen.Generate(cfg, func(l []byte) error { lines = append(lines, bytes.Clone(l)); return nil })
	if err != nil {
		t.Fatalf("http corpus: %v", err)
	}
	url := "http://" + r.shipper.addr + "/v1/ndjson"
	out := make(chan loadgen.Report, 1)
	var refused, failed atomic.Int64
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range httpClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &http.Client{Timeout: 15 * time.Second}
			for from := range next {
				body := bytes.Join(lines[from:min(from+httpBatch, len(lines))], nil)
				key := fmt.Sprintf("%s-%d", cfg.RunID, from)
				for {
					code, err := postNDJSON(cl, url, key, body)
					if err == nil && code == http.StatusOK {
						break
					}
					if err != nil {
						failed.Add(1)
					} else {
						refused.Add(1)
					}
					time.Sleep(250 * time.Millisecond)
				}
			}
		}()
	}
	go func() {
		for from := 0; from < len(lines); from += httpBatch {
			if burst := httpClients * httpBatch; cfg.Rate > 0 && from%burst == 0 { // burst k leaves at k·burst/Rate
				time.Sleep(time.Until(start.Add(time.Duration(float64(from) / float64(cfg.Rate) * float64(time.Second)))))
			}
			next <- from
		}
		close(next)
		wg.Wait()
		r.ledger.Note("HTTP front door: %d requests of %d records from %d clients; %d answers other than 200, %d requests failed (retried)",
			(len(lines)+httpBatch-1)/httpBatch, httpBatch, httpClients, refused.Load(), failed.Load())
		out <- rep
	}()
	return out
}

func postNDJSON(cl *http.Client, url, key string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Idempotency-Key", key)
	res, err := cl.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// httpFrontDoor is the options of the HTTP load's scenarios: the shipper's
// ingest on, over opts.
func httpFrontDoor(opts func(*testing.T) rigOptions) func(*testing.T) rigOptions {
	return func(t *testing.T) rigOptions {
		var o rigOptions
		if opts != nil {
			o = opts(t)
		}
		o.ingest = true
		return o
	}
}

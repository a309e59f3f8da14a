package app

// BENCHMARK ONLY. This file exists for `make bench` figure R6 (the price of
// exactly-once): it runs the indexer without its two guarantees so the suite
// can compare. Nothing in main, the config, the flags or the env reaches it;
// only bench/ calls RunBenchMode. Delete it together with R6.

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/agentobs/agentobs/indexer/bulk"
	"github.com/agentobs/agentobs/indexer/internal/offsets"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/segmentio/kafka-go"
)

// BenchMode switches guarantees off (benchmark only; the zero value is Run).
type BenchMode struct {
	// AutoIDs drops "_id" from every bulk action line, so Elasticsearch
	// assigns ids (append-only, no id lookup): a redelivered record becomes
	// a second document.
	AutoIDs bool
	// UnorderedCommits commits the last fetched offset of each partition
	// every commit interval, whether or not its documents were acknowledged
	// (Kafka's auto-commit): no tracker, no waiting for summaries.
	UnorderedCommits bool
}

// RunBenchMode is Run with the guarantees m switches off. Benchmark only.
func (a *App) RunBenchMode(ctx context.Context, m BenchMode) error {
	if m == (BenchMode{}) {
		return a.Run(ctx)
	}
	if err := a.prepare(ctx); err != nil {
		return err
	}
	gs, err := newGroupSource(a.cfg, a.member, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	p := a.pipeline(gs, bulk.OpCreate, nil, a.dlq)
	if m.AutoIDs {
		st := stripIDs{a.es.Transport}
		es := &elasticsearch.Client{BaseClient: elasticsearch.BaseClient{Transport: st}, API: esapi.New(st)}
		bc := bulk.DefaultConfig()
		bc.InitialBackoff, bc.MaxBackoff = a.cfg.Bulk.InitialBackoff, a.cfg.Bulk.MaxBackoff
		p.writer = bulk.NewWriter(es, bc, a.m, a.log)
	}
	if m.UnorderedCommits {
		ac := &autoCommit{groupSource: gs, last: map[[2]any]kafka.Message{}}
		p.src = ac
		go ac.loop(ctx, a.cfg.CommitInterval)
	} else {
		p.tracker = offsets.New() // run commits it in order, as Run does
	}
	err = p.run(ctx, context.Background())
	gs.Close()
	return err
}

// stripIDs removes `,"_id":"…"` from the action lines of _bulk bodies.
type stripIDs struct{ next esapi.Transport }

func (s stripIDs) Perform(req *http.Request) (*http.Response, error) {
	if req.Body != nil && bytes.HasSuffix([]byte(req.URL.Path), []byte("/_bulk")) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(body))
		for action := true; len(body) > 0; action = !action {
			line := body
			if i := bytes.IndexByte(body, '\n'); i >= 0 {
				line, body = body[:i+1], body[i+1:]
			} else {
				body = nil
			}
			if i := bytes.Index(line, []byte(`,"_id":"`)); action && i >= 0 {
				j := bytes.IndexByte(line[i+8:], '"')
				out = append(append(out, line[:i]...), line[i+8+j+1:]...)
				continue
			}
			out = append(out, line...)
		}
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(out)), int64(len(out))
	}
	return s.next.Perform(req)
}

// autoCommit remembers the last fetched message per partition and commits
// it periodically, acknowledged or not.
type autoCommit struct {
	*groupSource
	mu   sync.Mutex
	last map[[2]any]kafka.Message
}

func (c *autoCommit) Fetch(ctx context.Context) (kafka.Message, error) {
	m, err := c.groupSource.Fetch(ctx)
	if err == nil {
		c.mu.Lock()
		c.last[[2]any{m.Topic, m.Partition}] = m
		c.mu.Unlock()
	}
	return m, err
}

func (c *autoCommit) loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		msgs := make([]kafka.Message, 0, len(c.last))
		for _, m := range c.last {
			msgs = append(msgs, m)
		}
		c.mu.Unlock()
		_ = c.groupSource.Commit(ctx, msgs)
	}
}

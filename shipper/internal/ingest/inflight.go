package ingest

import (
	"crypto/sha256"
	"errors"
	"sync"
)

// A client that sends an NDJSON request again (same Idempotency-Key, same
// body) while its first attempt's batch still waits for Kafka joins that
// batch instead of queueing a second copy. Why: a client answered 503
// after -http.ack-timeout retries while the first copy is still queued;
// each retry used to queue another, so an outage multiplied the backlog,
// and every copy after the first reached Elasticsearch as a duplicate of
// the first. Only one copy's stamp can be noted on the document
// (indexer/audit: NoteDuplicates), so the loss audit reported the other
// copies' numbers missing (the chaos scenario shipper-http-broker-outage:
// 3 906 of 200 000, nothing lost).

// pending is one batch's answer from Kafka, for the request that queued it
// and every retry that joined it.
type pending struct {
	done    chan struct{}
	err     error // set before done is closed
	n       int   // records in the batch
	release func()
	once    sync.Once
}

func newPending(n int) *pending { return &pending{done: make(chan struct{}), n: n} }

// finish records Kafka's answer (the batch's Done): once.
func (p *pending) finish(err error) {
	p.once.Do(func() {
		p.err = err
		if p.release != nil {
			p.release() // a retry from now on queues a batch of its own
		}
		close(p.done)
	})
}

// errQueueFull is the answer to a batch that found no room in the queue.
var errQueueFull = errors.New("queue full")

// inflight are the keyed NDJSON requests whose batch waits for Kafka.
type inflight struct {
	mu sync.Mutex
	m  map[inflightKey]*pending
}

type inflightKey struct {
	key  string
	body [sha256.Size]byte
}

// join returns the batch in flight for key and body, or registers p for
// them (joined false): the caller queues p's batch.
func (f *inflight) join(key string, body []byte, p *pending) (q *pending, joined bool) {
	k := inflightKey{key: key, body: sha256.Sum256(body)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if q, ok := f.m[k]; ok {
		return q, true
	}
	if f.m == nil {
		f.m = map[inflightKey]*pending{}
	}
	f.m[k] = p
	p.release = func() {
		f.mu.Lock()
		delete(f.m, k)
		f.mu.Unlock()
	}
	return p, false
}

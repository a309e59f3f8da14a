package queue

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
	"github.com/segmentio/kafka-go"
)

// Producer is the part of *kafkaclient.Producer the senders use. Send must
// not keep msgs, nor their keys, values or headers, once it returned nil:
// the senders give an acknowledged batch's memory to later batches.
type Producer interface {
	Send(ctx context.Context, msgs []kafka.Message) error
}

// DeadLetterFunc addresses a message Kafka refused permanently to the
// dead-letter topic (edge.Edge.DeadLetter).
type DeadLetterFunc func(msg kafka.Message, reason string, cause error) kafka.Message

// UnknownTopicsFunc says which topics of the failed messages a record
// field chose and Kafka does not have (publish.Edge.UnknownTopics).
type UnknownTopicsFunc func(ctx context.Context, msgs []kafka.Message, errs []error) (map[string]bool, error)

// Senders produce the queued batches, one goroutine per lane.
type Senders struct {
	// UnknownTopics (nil: no check) turns records routed to a topic Kafka
	// does not have into dead letters instead of retrying them forever.
	UnknownTopics UnknownTopicsFunc

	q       *Queue
	p       Producer
	dlq     DeadLetterFunc
	log     *slog.Logger
	m       *shippermetrics.Metrics
	wg      sync.WaitGroup
	once    sync.Once
	backoff time.Duration // first retry delay; doubles up to maxBackoff
	maxWait time.Duration
}

// NewSenders builds the senders; Start runs them.
func NewSenders(q *Queue, p Producer, dlq DeadLetterFunc, log *slog.Logger, m *shippermetrics.Metrics) *Senders {
	return &Senders{q: q, p: p, dlq: dlq, log: log, m: m, backoff: 100 * time.Millisecond, maxWait: 5 * time.Second}
}

// Start runs one sender per lane until the queue is closed and drained, or
// ctx ends (then batches still queued are failed with ctx's error).
// Start is idempotent.
func (s *Senders) Start(ctx context.Context) {
	s.once.Do(func() { s.start(ctx) })
}

func (s *Senders) start(ctx context.Context) {
	for i := 0; i < s.q.Lanes(); i++ {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for b := range s.q.lane(i) {
				s.q.took()
				err := s.send(ctx, b.Msgs)
				b.Done(err)
				s.q.release(b)
				if err == nil {
					b.recycle()
				}
			}
		}()
	}
}

// Wait blocks until every sender stopped.
func (s *Senders) Wait() { s.wg.Wait() }

// send produces msgs until Kafka acknowledged each one or its dead letter.
// Retryable failures (broker down, leader moving, timeouts) are retried
// with exponential backoff for as long as ctx lives: the queue then fills
// and the readers stop, which is the backpressure the pipeline promises.
// Only records Kafka refuses for good (too large, invalid) are dead-lettered.
func (s *Senders) send(ctx context.Context, msgs []kafka.Message) error {
	wait := s.backoff
	failing := false
	for {
		err := s.p.Send(ctx, msgs)
		if err == nil {
			s.m.LastAck.SetToCurrentTime()
			if failing {
				s.log.Info("kafka produce recovered", "records", len(msgs))
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var retry []kafka.Message
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) && len(werrs) == len(msgs) {
			var unknown map[string]bool
			if s.UnknownTopics != nil {
				var uerr error
				if unknown, uerr = s.UnknownTopics(ctx, msgs, werrs); uerr != nil {
					s.log.Warn("could not ask Kafka whether the records' topics exist; retrying", "err", uerr)
				}
			}
			for i, e := range werrs {
				switch {
				case e == nil:
				case unknown[msgs[i].Topic] && errors.Is(e, kafka.UnknownTopicOrPartition):
					retry = append(retry, s.deadLetter(msgs[i], e))
				default:
					retry = append(retry, s.resolve(msgs[i], e))
				}
			}
		} else {
			for i := range msgs {
				retry = append(retry, s.resolve(msgs[i], err))
			}
		}
		retry = dropNil(retry)
		if len(retry) == 0 {
			s.m.LastAck.SetToCurrentTime()
			return nil
		}
		if !failing {
			reason, _ := kafkaclient.Classify(err)
			s.log.Warn("kafka produce failed; retrying, readers pause while the queue is full",
				"reason", reason, "records", len(retry), "err", err)
			failing = true
		}
		msgs = retry
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(2*wait, s.maxWait)
	}
}

// resolve decides what to resend for a failed message: itself when the
// error is retryable, its dead letter when Kafka refused it for good, or
// nothing when even the dead letter was refused (counted, logged).
func (s *Senders) resolve(msg kafka.Message, err error) kafka.Message {
	if _, retryable := kafkaclient.Classify(err); retryable {
		return msg
	}
	return s.deadLetter(msg, err)
}

// deadLetter is msg's dead letter, or nothing when msg already was one
// (Kafka refused even that: counted, logged).
func (s *Senders) deadLetter(msg kafka.Message, err error) kafka.Message {
	if kafkaclient.Header(msg, kafkaclient.HeaderDLQReason) != "" {
		s.m.DroppedRecords.WithLabelValues("dlq_failed").Inc()
		s.log.Error("dead letter refused by Kafka; record dropped", "topic", msg.Topic,
			"event_id", kafkaclient.Header(msg, publish.HeaderEventID), "err", err)
		return kafka.Message{}
	}
	return s.dlq(msg, publish.RefusalReason(err), err)
}

func dropNil(msgs []kafka.Message) []kafka.Message {
	out := msgs[:0]
	for _, m := range msgs {
		if m.Value != nil || m.Topic != "" {
			out = append(out, m)
		}
	}
	return out
}

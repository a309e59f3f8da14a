package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/shipper/internal/queue"
	"github.com/segmentio/kafka-go"
)

// newCanary builds the shipper's end-to-end canary (internal/publish,
// canary.go): source "shipper/<host>", delivered as a batch of its own
// through the same queue and senders as the records read from files,
// stdin and HTTP, so a full queue or a stuck sender delays it like them.
func (a *App) newCanary() (*publish.Canary, error) {
	vec, err := publish.NewCanaryCounter(a.set.Registry, "shipper")
	if err != nil {
		return nil, err
	}
	return publish.NewCanary(a.cfg.Canary, a.edge, "shipper/"+a.cfg.Host, a.epoch, a.deliverCanary,
		vec.WithLabelValues(publish.CanaryOK), vec.WithLabelValues(publish.CanaryError), a.log)
}

// deliverCanary queues msg and waits for Kafka's acknowledgement (or ctx).
func (a *App) deliverCanary(ctx context.Context, msg kafka.Message) error {
	done := make(chan error, 1)
	b := &queue.Batch{Msgs: []kafka.Message{msg}, Lane: a.lane.Add(1), Done: func(err error) { done <- err }}
	if err := a.queue.Put(ctx, b); err != nil {
		return fmt.Errorf("queue canary: %w", err)
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("canary not acknowledged: %w", ctx.Err())
	}
}

// finalCanary sends the last canary, marked final, before the queue
// closes on a clean stop (when one was sent before): the indexer's prober then stops expecting this
// source instead of alerting on a shipper that was scaled down.
func (a *App) finalCanary(ctx context.Context) {
	if a.cfg.Canary.Interval <= 0 || !a.canary.Sent() {
		return
	}
	a.senders.Start(a.sendCtx) // idempotent; a Run that failed early never started them
	if err := a.canary.Emit(ctx, true); err != nil && !errors.Is(err, context.Canceled) {
		a.log.Warn("final canary not delivered; the indexer forgets this source after canary.forget", "err", err)
	}
}

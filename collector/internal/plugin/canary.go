package plugin

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/agentobs/agentobs/internal/publish"
	"github.com/segmentio/kafka-go"
)

// startCanary builds the instance's end-to-end canary (internal/publish,
// canary.go), source "collector/<Source>/<Instance>", sent through the
// instance's edge and producer every Canary_Interval, each send bounded by
// Timeout like a flush. It needs no connection until the first tick;
// Close stops it.
func (o *Output) startCanary(now time.Time) error {
	src := "collector/" + o.cfg.Source + "/" + o.cfg.Instance
	c, err := publish.NewCanary(o.cfg.Canary, o.edge, src, strconv.FormatInt(now.Unix(), 10), o.deliverCanary,
		o.m.Canaries[publish.CanaryOK], o.m.Canaries[publish.CanaryError], o.log)
	if err != nil {
		return fmt.Errorf("canary: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	o.canary, o.stopCanary = c, stop
	go c.Run(ctx)
	return nil
}

func (o *Output) deliverCanary(ctx context.Context, msg kafka.Message) error {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	return o.sender.Send(ctx, []kafka.Message{msg})
}

// finalCanary stops the periodic canary and, when one was sent, sends the
// last one marked final, so the indexer's prober stops expecting this
// instance (Fluent Bit stopping or reloading) instead of alerting.
func (o *Output) finalCanary(ctx context.Context) {
	o.stopCanary()
	if o.cfg.Canary.Interval <= 0 || !o.canary.Sent() {
		return
	}
	if err := o.canary.Emit(ctx, true); err != nil {
		o.log.Warn("final canary not delivered; the indexer forgets this instance after canary.forget", "err", err)
	}
}

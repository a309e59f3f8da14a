package app

import (
	"cmp"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/agentobs/agentobs/indexer/audit"
	"github.com/agentobs/agentobs/indexer/ui"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/segmentio/kafka-go"
)

// pipelineState answers the explorer's health page from this indexer's own
// state: the lag monitor's last poll, the dead-letter topic, the periodic
// audit's last run.
type pipelineState struct{ a *App }

// Lags is each lag monitor's last poll: the record pipeline's, then the
// span pipeline's when spans are indexed.
func (p pipelineState) Lags() []ui.Lag {
	lags := []ui.Lag{p.a.health.uiLag("records")}
	if p.a.spanHealth != nil {
		lags = append(lags, p.a.spanHealth.uiLag("spans"))
	}
	return lags
}

// uiLag is the monitor's last poll as the health page shows it.
func (h *monitor) uiLag(kind string) ui.Lag {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := &h.st
	l := ui.Lag{Kind: kind, Topic: h.cfg.Topic, Group: h.cfg.Group, Polled: st.polled}
	if st.pollErr != nil {
		l.Err = st.pollErr.Error()
	}
	for part := range st.topicParts {
		c, ok := st.committed[part]
		if !ok {
			c = -1
		}
		pl := ui.PartitionLag{Partition: part, Lag: st.lag[part], Committed: c, Mine: slices.Contains(st.mine, part)}
		if pl.Mine {
			pl.Seconds = st.lagSeconds[part]
		}
		l.Partitions = append(l.Partitions, pl)
	}
	return l
}

// dlqReadMax bounds the dead letters one health page reads.
const dlqReadMax = 100_000

// dlqNewest is how many of the newest dead letters the page lists.
const dlqNewest = 5

// DeadLetters reads the dead-letter topic from since to its current end:
// counts by reason and the newest few.
func (p pipelineState) DeadLetters(ctx context.Context, since time.Time) (ui.DeadLetters, error) {
	out := ui.DeadLetters{Topic: p.a.cfg.DLQTopic, Since: since}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	src, err := newRangeSource(ctx, p.a.cfg.Kafka, p.a.cfg.DLQTopic, since, time.Time{})
	if errors.Is(err, kafka.UnknownTopicOrPartition) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	defer src.Close()
	counts := map[string]int64{}
	for {
		m, err := src.Fetch(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, err
		}
		out.Total++
		reason := kafkaclient.Header(m, kafkaclient.HeaderDLQReason)
		counts[reason]++
		d := ui.DeadLetter{Time: m.Time, Reason: reason, Error: kafkaclient.Header(m, kafkaclient.HeaderDLQError),
			Component: kafkaclient.Header(m, kafkaclient.HeaderDLQComponent), Value: string(m.Value[:min(len(m.Value), 512)]), Size: len(m.Value)}
		if t, err := time.Parse(time.RFC3339Nano, kafkaclient.Header(m, kafkaclient.HeaderDLQTime)); err == nil {
			d.Time = t
		}
		if t := kafkaclient.Header(m, kafkaclient.HeaderDLQTopic); t != "" {
			d.Origin = t + "/" + kafkaclient.Header(m, kafkaclient.HeaderDLQPartition) + "@" + kafkaclient.Header(m, kafkaclient.HeaderDLQOffset)
		}
		// Keep the newest few, newest first (partitions interleave).
		i, _ := slices.BinarySearchFunc(out.Newest, d, func(a, b ui.DeadLetter) int { return b.Time.Compare(a.Time) })
		if i < dlqNewest {
			out.Newest = slices.Insert(out.Newest, i, d)
			out.Newest = out.Newest[:min(len(out.Newest), dlqNewest)]
		}
		if out.Total >= dlqReadMax {
			out.Capped = true
			break
		}
	}
	for r, n := range counts {
		out.ByReason = append(out.ByReason, ui.ReasonCount{Reason: r, Count: n})
	}
	slices.SortFunc(out.ByReason, func(a, b ui.ReasonCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Reason, b.Reason))
	})
	return out, nil
}

// LastAudit is the periodic audit's last run.
func (p pipelineState) LastAudit() *audit.Last { return p.a.auditor.LastRun() }

// CanaryAges are the end-to-end canary prober's ages per front door.
func (p pipelineState) CanaryAges() map[string]time.Duration { return p.a.canary.Ages() }

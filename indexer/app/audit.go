package app

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/agentobs/agentobs/indexer/audit"
	"github.com/segmentio/kafka-go"
)

// Auditor is the loss audit over this indexer's log alias and dead-letter topic.
func (a *App) Auditor() *audit.Auditor { return a.auditor }

// deadLetters opens the dead-letter topic from since to its current end.
func (a *App) deadLetters(ctx context.Context, since time.Time) (audit.Source, error) {
	return newRangeSource(ctx, a.cfg.Kafka, a.cfg.DLQTopic, since, time.Time{})
}

// marks opens the front doors' high-water-mark topic from since to its
// current end. A topic that does not exist yet (no front door of this
// version has published) holds no marks: the audit then sees holes only.
func (a *App) marks(ctx context.Context, since time.Time) (audit.Source, error) {
	src, err := newRangeSource(ctx, a.cfg.Kafka, a.cfg.MarksTopicName(), since, time.Time{})
	if errors.Is(err, kafka.UnknownTopicOrPartition) {
		return noMarks{}, nil
	}
	return src, err
}

type noMarks struct{}

func (noMarks) Fetch(context.Context) (kafka.Message, error) { return kafka.Message{}, io.EOF }
func (noMarks) Close() error                                 { return nil }

package app

import (
	"context"
	"time"

	"github.com/agentobs/agentobs/indexer/audit"
)

// Auditor is the loss audit over this indexer's log alias and dead-letter topic.
func (a *App) Auditor() *audit.Auditor { return a.auditor }

// deadLetters opens the dead-letter topic from since to its current end.
func (a *App) deadLetters(ctx context.Context, since time.Time) (audit.Source, error) {
	return newRangeSource(ctx, a.cfg.Kafka, a.cfg.DLQTopic, since, time.Time{})
}

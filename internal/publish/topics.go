package publish

import (
	"context"
	"errors"

	"github.com/segmentio/kafka-go"
)

// MissingTopics says which of topics Kafka does not have
// (kafkaclient.MissingTopics over the front door's connection).
type MissingTopics func(ctx context.Context, topics ...string) ([]string, error)

// UnknownTopics returns the topics, among those of msgs whose produce failed
// with "Unknown Topic Or Partition" (errs[i], as in kafka.WriteErrors), that
// a record field chose (TopicField) and Kafka confirms it does not have.
// Their records can only be dead letters (ReasonUnknownTopic): Kafka calls
// the error retryable, since a topic may be on its way, so a record naming a
// topic nobody creates was retried forever and held back every record
// queued behind it. Front doors never create topics from record data. The
// configured Topic and DLQ topic are never returned: without them nothing
// can be delivered, which is an operator's fault to retry and alert on. An
// error of missing means the cluster did not answer: the caller retries.
func (e *Edge) UnknownTopics(ctx context.Context, missing MissingTopics, msgs []kafka.Message, errs []error) (map[string]bool, error) {
	if e.cfg.TopicField == "" {
		return nil, nil
	}
	var asked []string
	seen := map[string]bool{}
	for i, err := range errs {
		t := msgs[i].Topic
		if err == nil || !errors.Is(err, kafka.UnknownTopicOrPartition) || t == e.cfg.Topic || t == e.cfg.DLQTopic || seen[t] {
			continue
		}
		seen[t] = true
		asked = append(asked, t)
	}
	if len(asked) == 0 {
		return nil, nil
	}
	gone, err := missing(ctx, asked...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(gone))
	for _, t := range gone {
		if seen[t] {
			out[t] = true
		}
	}
	return out, nil
}

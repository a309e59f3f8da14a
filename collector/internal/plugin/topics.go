package plugin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
)

// topicCheckTimeout bounds the topic check at init: Fluent Bit's start
// waits for FLBPluginInit, so a slow or absent cluster must not hold it.
func topicCheckTimeout(cfg Config) time.Duration { return min(cfg.Timeout, 5*time.Second) }

// CheckTopics makes sure Topic and DLQ_Topic exist before the first flush
// (FLBPluginInit), because a flush to a missing topic can only retry: Kafka
// answers "Unknown Topic Or Partition" (retryable, as the topic may be on
// its way), Fluent Bit retries the chunk until Retry_Limit, and a chunk
// still retrying at shutdown is dropped unless it is in filesystem storage.
//
// When the cluster answers and a topic is missing, it is created with the
// broker's defaults if Create_Topics is on, else init fails with an error
// naming the topic and both fixes. When the cluster does not answer, the
// check is skipped with a warning: Fluent Bit must start while Kafka is
// down, and chunks wait in its buffers (FLB_RETRY) until Kafka is back.
//
// The marks topic (Marks_Topic, default "<Topic>-marks") is created with
// the others under Create_Topics On. Without it a missing marks topic is
// only a warning: the indexer creates it when it starts, records never wait
// for it, and a mark that cannot be written is retried at the next tick.
func (o *Output) CheckTopics(ctx context.Context) error {
	topics := []string{o.cfg.Edge.Topic, o.cfg.Edge.DLQTopic, o.cfg.Marks.Topic}
	missing, err := kafkaclient.MissingTopics(ctx, o.cfg.Kafka, topics...)
	if err != nil {
		o.log.Warn("could not check that the topics exist; starting anyway (flushes retry until Kafka answers)",
			"topics", topics, "error", err)
		return nil
	}
	if len(missing) == 0 {
		return nil
	}
	if !o.cfg.CreateTopics {
		if i := slices.Index(missing, o.cfg.Marks.Topic); i >= 0 {
			missing = slices.Delete(missing, i, i+1)
			o.log.Warn("the marks topic does not exist yet (the indexer creates it; Create_Topics On creates it here): high-water marks wait for it",
				"topic", o.cfg.Marks.Topic)
		}
		if len(missing) == 0 {
			return nil
		}
		return fmt.Errorf("Topic/DLQ_Topic: %s does not exist on %s: create it (kafka-topics.sh --create --topic %s) or set Create_Topics On",
			strings.Join(missing, ", "), strings.Join(o.cfg.Kafka.Brokers, ","), missing[0])
	}
	specs := make([]kafkaclient.TopicSpec, len(missing))
	for i, t := range missing {
		// -1: the broker's num.partitions and default.replication.factor.
		specs[i] = kafkaclient.TopicSpec{Name: t, Partitions: -1, ReplicationFactor: -1}
	}
	if err := kafkaclient.EnsureTopics(ctx, o.cfg.Kafka, specs...); err != nil {
		return fmt.Errorf("Create_Topics: %w", err)
	}
	o.log.Info("created missing topics (Create_Topics on)", "topics", missing)
	return nil
}

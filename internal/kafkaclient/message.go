package kafkaclient

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Dead-letter headers: why a record was dead-lettered and where it came from.
const (
	HeaderDLQReason    = "agentobs.dlq.reason"    // closed vocabulary, the metric label
	HeaderDLQError     = "agentobs.dlq.error"     // the error text
	HeaderDLQComponent = "agentobs.dlq.component" // who dead-lettered it
	HeaderDLQTopic     = "agentobs.dlq.topic"     // original topic, partition, offset (when it came from Kafka)
	HeaderDLQPartition = "agentobs.dlq.partition"
	HeaderDLQOffset    = "agentobs.dlq.offset"
	HeaderDLQTime      = "agentobs.dlq.time" // RFC 3339 time of dead-lettering
)

// HeaderControl marks a message a front door sends about itself rather than
// a user record: a producer's high-water mark (ControlMark) or an end-to-end
// canary (ControlCanary). The producer counts them in
// agentobs_<component>_control_records_produced_total{kind}, never in
// records_produced_total, so records/s on dashboards and alerts is the
// users' records only.
const (
	HeaderControl = "agentobs.control"
	ControlMark   = "mark"
	ControlCanary = "canary"
)

// ControlKinds is the closed set of the kind label.
var ControlKinds = []string{ControlMark, ControlCanary}

// Header returns the value of header key, or "".
func Header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// DeadLetter wraps a message that can never be delivered for dlqTopic,
// keeping its key, value and headers and adding why and where from. orig may
// come from a consumer (Partition/Offset set) or a producer (Offset < 0 means
// unknown: pass -1).
func DeadLetter(dlqTopic string, orig kafka.Message, component, reason string, cause error) kafka.Message {
	h := make([]kafka.Header, 0, len(orig.Headers)+7)
	h = append(h, orig.Headers...)
	errText := reason
	if cause != nil {
		errText = cause.Error()
	}
	if len(errText) > 4096 {
		errText = errText[:4096]
	}
	h = append(h,
		kafka.Header{Key: HeaderDLQReason, Value: []byte(reason)},
		kafka.Header{Key: HeaderDLQError, Value: []byte(errText)},
		kafka.Header{Key: HeaderDLQComponent, Value: []byte(component)},
		kafka.Header{Key: HeaderDLQTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))})
	if orig.Topic != "" && orig.Offset >= 0 {
		h = append(h,
			kafka.Header{Key: HeaderDLQTopic, Value: []byte(orig.Topic)},
			kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(orig.Partition))},
			kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(orig.Offset, 10))})
	}
	return kafka.Message{Topic: dlqTopic, Key: orig.Key, Value: orig.Value, Headers: h}
}

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name              string
	Partitions        int // default 6
	ReplicationFactor int // default 1
}

// EnsureTopics creates the topics that do not exist yet; existing ones are
// left as they are (idempotent, safe from several processes at once).
func EnsureTopics(ctx context.Context, conn Config, specs ...TopicSpec) error {
	c, err := conn.Client()
	if err != nil {
		return err
	}
	req := &kafka.CreateTopicsRequest{}
	for _, s := range specs {
		if s.Partitions == 0 {
			s.Partitions = 6
		}
		if s.ReplicationFactor == 0 {
			s.ReplicationFactor = 1
		}
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: s.ReplicationFactor})
	}
	resp, err := c.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	var errs []error
	for name, e := range resp.Errors {
		if e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", name, e))
		}
	}
	return errors.Join(errs...)
}

// Ping checks that the cluster answers a metadata request (readiness).
func Ping(ctx context.Context, conn Config) error {
	c, err := conn.Client()
	if err != nil {
		return err
	}
	if _, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}}); err != nil {
		return fmt.Errorf("kafka metadata: %w", err)
	}
	return nil
}

// MissingTopics asks the cluster which of names do not exist (a metadata
// request, which never auto-creates them). An error means the cluster did
// not answer; then nothing is known about the topics.
func MissingTopics(ctx context.Context, conn Config, names ...string) ([]string, error) {
	c, err := conn.Client()
	if err != nil {
		return nil, err
	}
	res, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return nil, fmt.Errorf("kafka metadata for %v: %w", names, err)
	}
	var missing []string
	for _, t := range res.Topics {
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			missing = append(missing, t.Name)
		}
	}
	return missing, nil
}

package publish

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/segmentio/kafka-go"
)

func TestUnknownTopicsAreOnlyRecordChosenTopicsKafkaLacks(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TopicField = "route"
	e, _ := New(cfg, "test", "p", 0, nil)
	unknown := fmt.Errorf("produce: %w", kafka.UnknownTopicOrPartition)
	msgs := []kafka.Message{
		{Topic: "tenant-gone"}, {Topic: "tenant-gone"}, // chosen by the record, missing
		{Topic: "tenant-coming"},          // chosen, missing in the produce, there by the time Kafka is asked
		{Topic: kafkaclient.DefaultTopic}, // the configured topic: never a dead letter
		{Topic: kafkaclient.DefaultDLQTopic},
		{Topic: "tenant-slow"}, // chosen, failed for another reason
		{Topic: "tenant-ok"},   // delivered
	}
	errs := []error{unknown, unknown, unknown, unknown, unknown, kafka.RequestTimedOut, nil}
	var asked []string
	missing := func(_ context.Context, topics ...string) ([]string, error) {
		asked = append(asked, topics...)
		return slices.DeleteFunc(slices.Clone(topics), func(t string) bool { return t == "tenant-coming" }), nil
	}
	got, err := e.UnknownTopics(context.Background(), missing, msgs, errs)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]bool{"tenant-gone": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("unknown %v, want %v", got, want)
	}
	if want := []string{"tenant-gone", "tenant-coming"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("asked Kafka about %v, want %v (each once, nothing else)", asked, want)
	}

	// Kafka not answering: no verdict, the caller retries.
	down := errors.New("metadata: connection refused")
	if got, err := e.UnknownTopics(context.Background(), func(context.Context, ...string) ([]string, error) { return nil, down }, msgs, errs); got != nil || !errors.Is(err, down) {
		t.Errorf("cluster down: %v, %v", got, err)
	}
	// Without a topic field every topic is configured: Kafka is not asked.
	plain, _ := New(DefaultConfig(), "test", "p", 0, nil)
	asked = nil
	if got, err := plain.UnknownTopics(context.Background(), missing, msgs, errs); got != nil || err != nil || asked != nil {
		t.Errorf("no topic field: %v, %v, asked %v", got, err, asked)
	}
}

func TestRefusalReason(t *testing.T) {
	for cause, want := range map[error]string{
		kafka.MessageSizeTooLarge: "too_large",
		fmt.Errorf("metadata of topic x: %w", kafka.UnknownTopicOrPartition): ReasonUnknownTopic,
		kafka.InvalidMessage: "rejected",
	} {
		if got := RefusalReason(cause); got != want {
			t.Errorf("%v: %s, want %s", cause, got, want)
		}
	}
}

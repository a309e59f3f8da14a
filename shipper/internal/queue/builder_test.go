package queue

import (
	"testing"

	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/shipper/internal/lines"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
	"github.com/segmentio/kafka-go"
)

func eventIDHeader(m kafka.Message) string {
	for _, h := range m.Headers {
		if h.Key == "event.id" {
			return string(h.Value)
		}
	}
	return ""
}

// TestBuilderEventIDsPinned pins the shipper's event.id for fixed source
// identities and positions: the ids must stay byte-identical across
// releases (and refactors), or every record re-read after an upgrade would
// be indexed twice. Values cross-checked with Python hashlib.
func TestBuilderEventIDsPinned(t *testing.T) {
	e, err := publish.New(publish.DefaultConfig(), "shipper", "shipper/pin", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		source, input string
		position      int64
		want          string
	}{
		{"host|2049:1234|0", shippermetrics.InputFile, 42, "b87543c1d4ca71d471d1937c0b613ffc"},
		{"host|2049:1234|1", shippermetrics.InputFile, 42, "abb2583ca10a1435cd0a0443cc16e758"},
		{"http|key:req-1", shippermetrics.InputHTTP, 1, "f2048e4a19bbb3723a66c8262f488da5"},
		{"host|stdin|00112233aabb", shippermetrics.InputStdin, 0, "c18f38537759eefc6eb21a732b681af2"},
	} {
		b := NewBuilder(record.NewParser(record.ParseOptions{}), e, tc.source, tc.input, nil, shippermetrics.New(nil), 0)
		b.Add(lines.Line{Data: []byte(`{"message":"pinned"}`), Start: tc.position, End: tc.position + 21}, tc.position)
		msgs := b.Take()
		if len(msgs) != 1 {
			t.Fatalf("%s: %d messages", tc.source, len(msgs))
		}
		if got := eventIDHeader(msgs[0]); got != tc.want {
			t.Errorf("event.id of (%s, %d) = %s, want %s", tc.source, tc.position, got, tc.want)
		}
	}
}

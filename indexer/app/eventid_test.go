package app

import (
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/agentobs/agentobs/indexer/bulk"
	"github.com/agentobs/agentobs/indexer/schema"
)

// TestPrepareEventIDPinned pins the id the indexer mints for a record that
// arrives without event.id (from its topic, partition and offset): it must
// stay byte-identical across releases, or a replay after an upgrade would
// index such records twice. Value cross-checked with Python hashlib.
func TestPrepareEventIDPinned(t *testing.T) {
	p := &pipeline{cfg: DefaultConfig(), m: NewMetrics(nil), op: bulk.OpCreate}
	m := kafka.Message{Topic: "agentobs-logs", Partition: 3, Offset: 7, Value: []byte(`{"message":"no id"}`)}
	pr := p.prepare(m, schema.NewIndexer(schema.DefaultNames()), interner{})
	if pr.it.Outcome == bulk.DeadLetter {
		t.Fatalf("dead-lettered: %v", pr.it.Err)
	}
	if want := "909cad925192ef0b1d0cbaaf2f520a94"; pr.it.ID != want {
		t.Errorf("minted event.id = %s, want %s", pr.it.ID, want)
	}
	if want := `{"event.id":"909cad925192ef0b1d0cbaaf2f520a94","message":"no id"}`; string(pr.it.Source) != want {
		t.Errorf("source = %s, want %s", pr.it.Source, want)
	}
}

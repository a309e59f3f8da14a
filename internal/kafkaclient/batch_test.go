package kafkaclient

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/protocol"
)

// batchMessages are records of every shape the encoder must get right:
// nil, empty and set keys and values, headers with nil and empty values,
// no headers, times that go back, values crossing lz4's 64 KiB blocks.
func batchMessages(t0 time.Time) []kafka.Message {
	big := []byte(strings.Repeat("lorem ipsum dolor sit amet ", 4000))
	msgs := []kafka.Message{
		{Key: []byte("4bf92f3577b34da6a3ce929d0e0e4736"), Value: []byte(`{"message":"a"}`), Time: t0,
			Headers: []kafka.Header{{Key: "trace_id", Value: []byte("4bf92f3577b34da6a3ce929d0e0e4736")}, {Key: "nil", Value: nil}, {Key: "empty", Value: []byte{}}}},
		{Key: nil, Value: []byte(`{"message":"no key"}`), Time: t0.Add(3 * time.Millisecond)},
		{Key: []byte{}, Value: nil, Time: t0.Add(-time.Second)},
		{Key: []byte("k"), Value: []byte{}, Time: t0.Add(time.Hour)},
		{Key: []byte("big"), Value: big, Time: t0.Add(time.Millisecond), Headers: []kafka.Header{{Key: "", Value: []byte("v")}}},
	}
	for i := range 300 {
		msgs = append(msgs, kafka.Message{Key: fmt.Appendf(nil, "%032x", i), Value: fmt.Appendf(nil, `{"seq":%d,"detail":"%s"}`, i, big[:i*7]),
			Time: t0.Add(time.Duration(i) * time.Microsecond * 700), Headers: []kafka.Header{{Key: "event.id", Value: fmt.Appendf(nil, "%032x", i*31)}}})
	}
	return msgs
}

// TestBatchMatchesKafkaGo: encodeBatch writes the bytes kafka-go's
// RecordSet (version 2) writes for the same records, for every codec,
// for all the messages and for a subset picked out of order.
func TestBatchMatchesKafkaGo(t *testing.T) {
	msgs := batchMessages(time.Date(2026, 12, 1, 12, 0, 0, 123456789, time.UTC))
	all := make([]int32, len(msgs))
	for i := range all {
		all[i] = int32(i)
	}
	for _, codec := range []compress.Compression{0, compress.Lz4, compress.Gzip, compress.Snappy, compress.Zstd} {
		for _, idx := range [][]int32{all, {7, 3, 0, 200, 4}, {2}} {
			rs := protocol.RecordSet{Version: 2, Attributes: protocol.Attributes(codec) & 7, Records: &msgRecordsRef{msgs: msgs, idx: idx}}
			var want bytes.Buffer
			if _, err := rs.WriteTo(&want); err != nil {
				t.Fatal(err)
			}
			got, err := encodeBatch([]byte("keep"), codec, msgs, idx, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(got, []byte("keep")) {
				t.Fatalf("%s: the bytes before the batch changed", codec)
			}
			if got = got[4:]; !bytes.Equal(got, want.Bytes()) {
				i := 0
				for i < min(len(got), want.Len()) && got[i] == want.Bytes()[i] {
					i++
				}
				t.Fatalf("codec %v, %d records: %d bytes, kafka-go %d; first difference at byte %d", codec, len(idx), len(got), want.Len(), i)
			}
			// And kafka-go reads it back.
			var back protocol.RecordSet
			if _, err := back.ReadFrom(bytes.NewReader(got)); err != nil {
				t.Fatalf("codec %v: kafka-go cannot read the batch: %v", codec, err)
			}
			n := 0
			for {
				r, err := back.Records.ReadRecord()
				if err != nil {
					break
				}
				v, _ := protocol.ReadAll(r.Value)
				if m := msgs[idx[n]]; !bytes.Equal(v, m.Value) || r.Time.UnixMilli() != m.Time.UnixMilli() {
					t.Fatalf("codec %v: record %d read back differs", codec, n)
				}
				n++
			}
			if n != len(idx) {
				t.Fatalf("codec %v: %d records read back, want %d", codec, n, len(idx))
			}
		}
	}
}

// TestBatchStampsUntimedRecords: a message without a Time gets now, as
// kafka-go stamped it.
func TestBatchStampsUntimedRecords(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	b, err := encodeBatch(nil, 0, []kafka.Message{{Value: []byte("x")}}, []int32{0}, now)
	if err != nil {
		t.Fatal(err)
	}
	var rs protocol.RecordSet
	if _, err := rs.ReadFrom(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	r, err := rs.Records.ReadRecord()
	if err != nil {
		t.Fatal(err)
	}
	if !r.Time.Equal(now) {
		t.Fatalf("time %v, want %v", r.Time, now)
	}
}

// BenchmarkEncodeBatch: 500 records of 1 KiB with six headers, lz4, as
// the edge sends them; kafka-go: the same through its RecordSet.
func BenchmarkEncodeBatch(b *testing.B) {
	value := []byte(strings.Repeat("lorem ipsum dolor sit amet ", 38))
	msgs := make([]kafka.Message, 500)
	idx := make([]int32, len(msgs))
	t0 := time.Now()
	for i := range msgs {
		id := fmt.Appendf(nil, "%032x", i)
		var hs []kafka.Header
		for _, k := range []string{"trace_id", "span_id", "service.name", "event.id", "agentobs.schema", "content-type"} {
			hs = append(hs, kafka.Header{Key: k, Value: id})
		}
		msgs[i], idx[i] = kafka.Message{Key: id, Value: value, Headers: hs, Time: t0}, int32(i)
	}
	b.Run("ours", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = encodeBatch(buf[:0], compress.Lz4, msgs, idx, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kafka-go", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			rs := protocol.RecordSet{Version: 2, Attributes: protocol.Attributes(compress.Lz4), Records: &msgRecordsRef{msgs: msgs, idx: idx}}
			if _, err := rs.WriteTo(&buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// msgRecordsRef reads the messages at idx as protocol records, as the
// producer did before encodeBatch.
type msgRecordsRef struct {
	msgs []kafka.Message
	idx  []int32
}

func (r *msgRecordsRef) ReadRecord() (*protocol.Record, error) {
	if len(r.idx) == 0 {
		return nil, io.EOF
	}
	m := &r.msgs[r.idx[0]]
	r.idx = r.idx[1:]
	return &protocol.Record{Time: m.Time, Headers: m.Headers, Key: protocol.NewBytes(m.Key), Value: protocol.NewBytes(m.Value)}, nil
}

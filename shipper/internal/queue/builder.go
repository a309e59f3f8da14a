package queue

import (
	"strings"

	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/shipper/internal/lines"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Builder turns the lines of one stream (a file generation, stdin, one
// HTTP request) into Kafka messages: parse (joining CRI partial lines),
// count bad input, stamp the event.id from the stream's source identity and
// the line's position, then the shared edge stage (policy, producer stamp,
// encoding, size policy, topic). Each record is encoded (and its message's
// keys and headers copied) before the next line is parsed, so its parser
// may use record.ParseOptions.ReuseValues. Not safe for concurrent use.
type Builder struct {
	parser *record.Parser
	edge   *publish.Edge
	source string
	input  string
	fields map[string]any
	m      *shippermetrics.Metrics
	// The input's line counters, looked up once: by label they cost a
	// hash and a map look-up per line.
	linesRead, readBytes prometheus.Counter

	rec record.Record
	ids publish.LineIDs // the record's event.id, valid until the next
	enc []byte          // the record being encoded, reused
	// scratch holds the values, keys and header values of the current
	// batch's messages and remembers the key order of recurring field
	// sets; Take detaches its memory with the batch, so it is never reset.
	scratch publish.Scratch
	msgs    []kafka.Message
	size    int
	pending int64 // start of a buffered CRI partial sequence, or -1
	safe    int64 // position a restart may resume from
}

// NewBuilder builds messages for source (the event.id source), counting
// lines under input; fields are added to every record (host.name,
// log.file.path, container metadata). safe is the starting position.
func NewBuilder(p *record.Parser, e *publish.Edge, source, input string, fields map[string]any, m *shippermetrics.Metrics, safe int64) *Builder {
	return &Builder{parser: p, edge: e, source: source, input: input, fields: fields, m: m, pending: -1, safe: safe,
		linesRead: m.LinesRead.WithLabelValues(input), readBytes: m.ReadBytes.WithLabelValues(input)}
}

// Add reads one line. position is what the event.id is derived from
// (the byte offset for files and stdin, the index for HTTP); a record
// completed from CRI partial lines takes the position of its first line.
func (b *Builder) Add(l lines.Line, position int64) {
	b.linesRead.Inc()
	b.readBytes.Add(float64(l.End - l.Start))
	kind := lines.Classify(l)
	if kind != "" {
		b.m.BadLines.WithLabelValues(kind).Inc()
	}
	if kind == lines.KindEmpty {
		if b.pending < 0 {
			b.safe = l.End
		}
		return
	}
	if !b.parser.Parse(l.Data, &b.rec) {
		if b.pending < 0 {
			b.pending = position
		}
		return
	}
	if b.pending >= 0 {
		position, b.pending = b.pending, -1
	}
	if l.Truncated {
		b.rec.AddFlag(record.FlagTruncated)
		b.rec.Set(record.FieldOriginalBytes, l.Original)
	}
	if kind == "" && b.rec.HasFlag(record.FlagUnparsedJSON) {
		b.m.BadLines.WithLabelValues(lines.KindInvalidJSON).Inc()
	}
	b.emit(position)
	b.safe = l.End
}

// Flush emits a CRI partial sequence that never got its final line (end
// of input).
func (b *Builder) Flush() {
	if b.pending < 0 {
		return
	}
	if b.parser.Flush(&b.rec) {
		b.emit(b.pending)
	}
	b.pending = -1
}

// Record is the builder's record, for an input that fills it itself instead
// of parsing a line (the OTLP receiver); Emit then finishes it.
func (b *Builder) Record() *record.Record { return &b.rec }

// Emit stamps, encodes and keeps the record filled through Record, like a
// parsed line at position.
func (b *Builder) Emit(position int64) { b.emit(position) }

func (b *Builder) emit(position int64) {
	if b.rec.EventID == "" {
		b.rec.EventID = b.ids.Next(b.source, position)
	}
	for k, v := range b.fields {
		// The shipper's own keys win; metadata the line already carries
		// (its own host.name, container.id) is the producer's and is kept.
		if _, has := b.rec.Fields[k]; !has || strings.HasPrefix(k, "agentobs.") || strings.HasPrefix(k, "log.") {
			b.rec.Set(k, v)
		}
	}
	if b.input == shippermetrics.InputFile || b.input == shippermetrics.InputStdin {
		b.rec.Set(record.FieldOffset, b.scratch.Int64(position))
	}
	var msg kafka.Message
	msg, b.enc, _ = b.edge.MessageScratch(&b.rec, b.enc, b.edge.NextSeq(), &b.scratch)
	// The edge encodes into b.enc, reused per record; the batch keeps its
	// own copy in the scratch memory that is handed off with the batch.
	msg.Value = b.scratch.Keep(msg.Value)
	if b.msgs == nil {
		b.msgs = freeMsgs.Get()
	}
	b.msgs = append(b.msgs, msg)
	b.size += len(msg.Value)
}

// Len and Bytes describe the batch being built.
func (b *Builder) Len() int   { return len(b.msgs) }
func (b *Builder) Bytes() int { return b.size }

// Safe is the position up to which every line is in a batch already taken
// or being built: the checkpoint offset once those batches are acknowledged.
// It stays at the start of a CRI partial sequence until the sequence ends.
func (b *Builder) Safe() int64 { return b.safe }

// Records is how many records this stream produced so far (the edge's
// producer sequence).
func (b *Builder) Records() uint64 { return b.edge.Seq() }

// Take hands off the messages built so far as a batch (the caller sets
// its Lane and Done), with the memory they live in: the sender gives that
// to later batches once Kafka acknowledged them.
func (b *Builder) Take() *Batch {
	bt := &Batch{Msgs: b.msgs, mem: b.scratch.Detach()}
	b.msgs, b.size = nil, 0
	return bt
}

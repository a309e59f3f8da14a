package suite

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/agentobs/agentobs/indexer/schema"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	"github.com/segmentio/kafka-go"
)

// indexRun is one load into Elasticsearch.
type indexRun struct {
	Rate  float64
	Usage Usage // summed over instances; PeakRSS is the largest
	ES    time.Duration
}

// indexers are indexer binaries of one group writing into one set of indices.
type indexers struct {
	s     *Suite
	procs []*Proc
	addrs []string
	names schema.Names
	usage *Usage
}

// startIndexers starts instances indexer binaries in one fresh group on
// topic; extra env entries (INDEXER_…=…) override the defaults.
func (s *Suite) startIndexers(topic string, instances int, extra ...string) (*indexers, error) {
	ix := &indexers{s: s, names: s.env.Names("idx", fmt.Sprint(s.seq()))}
	group := s.env.Name("g", fmt.Sprint(s.seq()))
	for range instances {
		addr := FreeAddr()
		p, err := Start(s.env.Tmp, s.env.Indexer, []string{"run"}, append([]string{
			"INDEXER_KAFKA_BROKERS=" + strings.Join(s.env.Brokers, ","), "INDEXER_ES_ADDRESSES=" + s.env.ESURL,
			"INDEXER_KAFKA_TOPIC=" + topic, "INDEXER_KAFKA_DLQ_TOPIC=" + s.dlq, "INDEXER_KAFKA_GROUP=" + group,
			"INDEXER_KAFKA_SESSION_TIMEOUT=6s", "INDEXER_INDEX_PATTERN=" + ix.names.IndexPattern, "INDEXER_INDEX_ALIAS=" + ix.names.Alias,
			"INDEXER_INDEX_TRACES=" + ix.names.Traces, "INDEXER_INDEX_ALERTS=" + ix.names.Alerts, "INDEXER_INDEX_REPLICAS=0",
			"INDEXER_HTTP_ADDR=" + addr, "INDEXER_LOG_LEVEL=warn",
			// The record pipeline alone: the default spans topic is the
			// local stack's shared one, whose spans were counted as documents.
			"INDEXER_KAFKA_SPANS_TOPIC=",
		}, extra...))
		if err != nil {
			ix.stop()
			return nil, err
		}
		ix.procs, ix.addrs = append(ix.procs, p), append(ix.addrs, addr)
	}
	return ix, nil
}

// count is the documents indexed (or found already there) by all instances.
func (ix *indexers) count() float64 {
	t := 0.0
	for _, a := range ix.addrs {
		if v := Scrape(a, "agentobs_indexer_documents_indexed_total"); v > 0 {
			t += v
		}
		if v := Scrape(a, "agentobs_indexer_duplicates_total"); v > 0 {
			t += v
		}
	}
	return t
}

// consumed is the messages fetched by all instances.
func (ix *indexers) consumed() float64 {
	t := 0.0
	for _, a := range ix.addrs {
		if v := Scrape(a, "agentobs_indexer_records_consumed_total"); v > 0 {
			t += v
		}
	}
	return t
}

func (ix *indexers) alive() error {
	for _, p := range ix.procs {
		if err := p.Exited(); err != nil {
			return err
		}
	}
	return nil
}

// stop stops every instance (once) and returns their summed CPU and largest peak RSS.
func (ix *indexers) stop() Usage {
	if ix.usage != nil {
		return *ix.usage
	}
	var u Usage
	for _, p := range ix.procs {
		pu := p.Stop(30 * time.Second)
		u.CPU += pu.CPU
		u.PeakRSS = max(u.PeakRSS, pu.PeakRSS)
	}
	ix.usage = &u
	return u
}

// drop removes the indices.
func (ix *indexers) drop() { ix.s.env.DropIndices(ix.s.es, ix.names) }

// runIndexer runs instances indexer binaries in one fresh group on topic
// (which holds n records) until all n are in Elasticsearch.
func (s *Suite) runIndexer(ctx context.Context, topic string, n, instances int, step string, extra ...string) (indexRun, error) {
	ix, err := s.startIndexers(topic, instances, extra...)
	if err != nil {
		return indexRun{}, err
	}
	defer ix.drop()
	s.prog.Step(step, float64(n), ix.count)
	// Elasticsearch's CPU from the first record fetched: the indexer's
	// start-up (templates, aliases, index checks) is not per-document work,
	// and on a 100 000-record run it was a tenth of the figure.
	espid := StackPID("elasticsearch")
	started, e0 := fromFirst(ix.consumed, espid)
	rate, err := measureRate(ctx, float64(n), ix.count, started, ix.alive, 10*time.Minute)
	r := indexRun{Usage: ix.stop()}
	if err != nil {
		return indexRun{}, fmt.Errorf("indexer: %w", err)
	}
	r.Rate, r.ES = rate, TreeCPU(espid)-*e0
	s.prog.Logf("indexer ×%d: %.0f docs/s, CPU %.1fs, peak RSS %d MiB, ES CPU %.1fs", instances, rate, r.Usage.CPU.Seconds(), r.Usage.PeakRSS>>20, r.ES.Seconds())
	return r, nil
}

// doc is one document as the reference loads it: the Kafka value as the
// source, event.id as _id, the index from @timestamp (as the indexer does).
type doc struct {
	index, id string
	src       []byte
}

func (s *Suite) docs(msgs []kafka.Message, names schema.Names) []doc {
	idx := schema.NewIndexer(names)
	out := make([]doc, 0, len(msgs))
	for _, m := range msgs {
		meta, err := record.Peek(m.Value)
		if err != nil {
			continue
		}
		out = append(out, doc{index: idx.Index(meta.Timestamp), id: meta.EventID, src: m.Value})
	}
	return out
}

// bulkConfig is one point of the reference's tuning sweep.
type bulkConfig struct {
	FlushBytes, Workers int
}

func (b bulkConfig) String() string {
	return fmt.Sprintf("flush %d MiB × %d workers", b.FlushBytes>>20, b.Workers)
}

// runBulkIndexer loads msgs with esutil.BulkIndexer ("create" with the
// record's event.id, the indexer's template) into fresh indices.
func (s *Suite) runBulkIndexer(ctx context.Context, msgs []kafka.Message, bc bulkConfig, step string) (indexRun, error) {
	names := s.env.Names("bi", fmt.Sprint(s.seq()))
	defer s.env.DropIndices(s.es, names)
	set := schema.DefaultSettings()
	set.Replicas = 0
	f, err := schema.Detect(ctx, s.es)
	if err != nil {
		return indexRun{}, err
	}
	if err := schema.Install(ctx, s.es, names, set, f, schema.Options{}, slog.New(slog.DiscardHandler)); err != nil {
		return indexRun{}, err
	}
	docs := s.docs(msgs, names)
	// Measured from the first Add to Close; with the indexer's filter_path.
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: s.es, NumWorkers: bc.Workers, FlushBytes: bc.FlushBytes, FlushInterval: 200 * time.Millisecond,
		FilterPath: []string{"errors", "items.*.status", "items.*.error.type", "items.*.error.reason"}})
	if err != nil {
		return indexRun{}, err
	}
	s.prog.Step(step, float64(len(docs)), func() float64 { st := bi.Stats(); return float64(st.NumFlushed) })
	espid := StackPID("elasticsearch")
	e0, u0 := TreeCPU(espid), Self()
	t0 := time.Now()
	for _, d := range docs {
		if err := bi.Add(ctx, esutil.BulkIndexerItem{Action: "create", Index: d.index, DocumentID: d.id, Body: bytes.NewReader(d.src)}); err != nil {
			return indexRun{}, err
		}
	}
	if err := bi.Close(ctx); err != nil {
		return indexRun{}, err
	}
	el := time.Since(t0)
	u1 := Self()
	st := bi.Stats()
	if st.NumFailed != 0 {
		return indexRun{}, fmt.Errorf("bulk indexer: %d of %d failed", st.NumFailed, len(docs))
	}
	r := indexRun{Rate: float64(len(docs)) / el.Seconds(), Usage: Usage{CPU: u1.CPU - u0.CPU, PeakRSS: u1.PeakRSS}, ES: TreeCPU(espid) - e0}
	s.prog.Logf("BulkIndexer %s: %.0f docs/s, ES CPU %.1fs", bc, r.Rate, r.ES.Seconds())
	return r, nil
}

// sweepBulkIndexer finds the reference's best configuration on a subset.
func (s *Suite) sweepBulkIndexer(ctx context.Context, msgs []kafka.Message) (bulkConfig, []map[string]any, error) {
	sub := msgs[:min(len(msgs), s.opt.SweepDocs)]
	var best bulkConfig
	bestRate := 0.0
	var table []map[string]any
	for _, fb := range s.opt.SweepFlushMiB {
		for _, w := range s.opt.SweepWorkers {
			bc := bulkConfig{FlushBytes: fb << 20, Workers: w}
			r, err := s.runBulkIndexer(ctx, sub, bc, "R1 reference sweep: BulkIndexer "+bc.String())
			if err != nil {
				return best, table, err
			}
			table = append(table, map[string]any{"flush_mib": fb, "workers": w, "docs_per_s": r.Rate})
			if r.Rate > bestRate {
				best, bestRate = bc, r.Rate
			}
		}
	}
	s.prog.Logf("best reference configuration: %s (%.0f docs/s on %d docs)", best, bestRate, len(sub))
	return best, table, nil
}

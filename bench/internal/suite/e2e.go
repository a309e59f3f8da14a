package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/agentobs/agentobs/bench/internal/report"
	"github.com/agentobs/agentobs/internal/loadgen"
)

// e2eRun is one agent file → shipper → Kafka → indexer → ES run.
type e2eRun struct {
	Rate             float64
	Shipper, Indexer Usage
	// ES and Kafka are the servers' CPU over the same run.
	ES, Kafka time.Duration
}

// startShipper starts the shipper binary tailing include into topic.
func (s *Suite) startShipper(include, topic string, extra ...string) (*Proc, string, func(), error) {
	ck, err := os.MkdirTemp(s.env.Tmp, "ck-")
	if err != nil {
		return nil, "", nil, err
	}
	addr := FreeAddr()
	p, err := Start(s.env.Tmp, s.env.Shipper, append([]string{
		"-files.include", include, "-files.checkpoint-dir", ck, "-files.start-at", "beginning",
		"-kafka.brokers", strings.Join(s.env.Brokers, ","), "-kafka.topic", topic, "-kafka.dlq-topic", s.dlq,
		"-http.addr", addr, "-log.level", "warn", "-host", "bench",
	}, extra...), nil)
	if err != nil {
		os.RemoveAll(ck)
		return nil, "", nil, err
	}
	return p, addr, func() { os.RemoveAll(ck) }, nil
}

// runE2E ships the corpus through the whole pipeline, measuring docs/s at
// the far end from the first document indexed to the last.
func (s *Suite) runE2E(ctx context.Context, c *Corpus, step string) (e2eRun, error) {
	topic := s.topic("e2e")
	if err := s.env.CreateTopic(ctx, topic, s.opt.Partitions); err != nil {
		return e2eRun{}, err
	}
	defer s.env.DeleteTopics(topic)
	ix, err := s.startIndexers(topic, 1)
	if err != nil {
		return e2eRun{}, err
	}
	defer ix.drop()
	if err := waitPort(ix.addrs[0], 30*time.Second); err != nil {
		ix.stop()
		return e2eRun{}, err
	}
	sh, shAddr, rm, err := s.startShipper(c.Path, topic)
	if err != nil {
		ix.stop()
		return e2eRun{}, err
	}
	defer rm()
	alive := func() error {
		if err := sh.Exited(); err != nil {
			return err
		}
		return ix.alive()
	}
	s.prog.Step(step, float64(c.Records), ix.count)
	read := func() float64 { return Scrape(shAddr, "agentobs_shipper_lines_read_total") }
	// The servers' CPU from the first line read (not the binaries' start-up).
	espid, kpid := StackPID("elasticsearch"), StackPID("kafka")
	read, e0 := fromFirst(read, espid)
	read, k0 := fromFirst(read, kpid)
	rate, err := measureRate(ctx, float64(c.Records), ix.count, read, alive, 10*time.Minute)
	r := e2eRun{Rate: rate, Shipper: sh.Stop(30 * time.Second), Indexer: ix.stop()}
	r.ES, r.Kafka = TreeCPU(espid)-*e0, TreeCPU(kpid)-*k0
	if err != nil {
		return e2eRun{}, fmt.Errorf("end to end: %w", err)
	}
	s.prog.Logf("end to end: %.0f docs/s (shipper CPU %.1fs, indexer CPU %.1fs, Kafka CPU %.1fs, ES CPU %.1fs)", rate,
		r.Shipper.CPU.Seconds(), r.Indexer.CPU.Seconds(), r.Kafka.Seconds(), r.ES.Seconds())
	return r, nil
}

// runLatency writes agent lines at rate into a file the shipper tails for
// d, and measures for a sample of them (every k-th seq) the time from the
// write to the moment a search finds the document.
func (s *Suite) runLatency(ctx context.Context, rate float64, d time.Duration) (*report.Latency, error) {
	topic := s.topic("lat")
	if err := s.env.CreateTopic(ctx, topic, s.opt.Partitions); err != nil {
		return nil, err
	}
	defer s.env.DeleteTopics(topic)
	ix, err := s.startIndexers(topic, 1)
	if err != nil {
		return nil, err
	}
	defer ix.drop()
	defer ix.stop()
	if err := waitPort(ix.addrs[0], 30*time.Second); err != nil {
		return nil, err
	}
	path := filepath.Join(s.env.Tmp, "latency.log")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sh, _, rm, err := s.startShipper(path, topic)
	if err != nil {
		return nil, err
	}
	defer rm()
	defer sh.Stop(30 * time.Second)
	time.Sleep(time.Second) // the shipper has found the file

	total := int64(rate * d.Seconds())
	every := max(1, total/2000)
	cfg := loadgen.DefaultConfig()
	cfg.Seed, cfg.RecordSize, cfg.Rate, cfg.Records = s.opt.Seed+7, 1024, int(rate), total
	cfg.RunID, cfg.Start = s.env.Name("lat"), time.Now().UTC()
	g, err := loadgen.NewGenerator(cfg)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	written := map[int64]time.Time{}  // probe seq → write time
	found := map[int64]time.Time{}    // probe seq → when the first search that found it answered
	searchTook := map[int64]float64{} // probe seq → how long that search took
	stopPoll := make(chan struct{})
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		for {
			select {
			case <-stopPoll:
				return
			case <-time.After(100 * time.Millisecond):
			}
			mu.Lock()
			var pending []int64
			for seq := range written {
				if _, ok := found[seq]; !ok {
					pending = append(pending, seq)
				}
			}
			mu.Unlock()
			if len(pending) == 0 {
				continue
			}
			asked := time.Now()
			hits, err := s.searchSeqs(ix.names.Glob(), pending)
			now := time.Now()
			if err != nil {
				continue
			}
			mu.Lock()
			for _, seq := range hits {
				if _, ok := written[seq]; ok {
					if _, dup := found[seq]; !dup {
						found[seq], searchTook[seq] = now, now.Sub(asked).Seconds()
					}
				}
			}
			mu.Unlock()
		}
	}()
	s.prog.Step(fmt.Sprintf("R5 latency: %d records at %.0f/s for %s", total, rate, d), float64(total), func() float64 { return ix.count() })
	start := time.Now()
	var t1 time.Time
	var c1 float64
	var buf []byte
	var probes []int64
	var n int64
	for n < total {
		due := min(total, int64(time.Since(start).Seconds()*rate)+1)
		buf, probes = buf[:0], probes[:0]
		for ; n < due; n++ {
			l := g.Next()
			buf = append(buf, l.Data...)
			if l.Seq%every == 0 {
				probes = append(probes, l.Seq)
			}
		}
		if _, err := f.Write(buf); err != nil {
			return nil, err
		}
		now := time.Now()
		mu.Lock()
		for _, p := range probes {
			written[p] = now
		}
		mu.Unlock()
		if t1.IsZero() && n >= total/4 {
			t1, c1 = time.Now(), ix.count()
		}
		time.Sleep(5 * time.Millisecond)
	}
	achieved := float64(total) / time.Since(start).Seconds()
	// The far end's rate over the last three quarters of the writing: below
	// the written rate, the pipeline falls behind and latency only grows.
	farEnd := (ix.count() - c1) / time.Since(t1).Seconds()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		done := len(found) == len(written)
		mu.Unlock()
		if done || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stopPoll)
	<-pollDone
	lat := make([]float64, 0, len(found))
	for seq, t := range found {
		lat = append(lat, t.Sub(written[seq]).Seconds())
	}
	slices.Sort(lat)
	l := &report.Latency{TargetRate: rate, Achieved: achieved, FarEnd: farEnd, Probes: len(written), Missing: len(written) - len(found), Samples: lat,
		P50: report.Percentile(lat, 50), P90: report.Percentile(lat, 90), P99: report.Percentile(lat, 99)}
	if len(lat) > 0 {
		l.Max = lat[len(lat)-1]
	}
	if n := Scrape(ix.addrs[0], "agentobs_indexer_e2e_latency_seconds_count"); n > 0 {
		l.MeanAcked = Scrape(ix.addrs[0], "agentobs_indexer_e2e_latency_seconds_sum") / n
	}
	if n := Scrape(ix.addrs[0], "agentobs_indexer_bulk_duration_seconds_count"); n > 0 {
		l.MeanBulk = Scrape(ix.addrs[0], "agentobs_indexer_bulk_duration_seconds_sum") / n
	}
	if err := s.splitLatency(ctx, topic, l, written, found, searchTook); err != nil {
		s.prog.Logf("latency: not split at the produce request: %v", err)
	}
	s.prog.Logf("latency: p50 %.2fs p99 %.2fs over %d probes (%d missing); written %.0f/s, indexed %.0f/s meanwhile", l.P50, l.P99, l.Probes, l.Missing, achieved, farEnd)
	return l, nil
}

// splitLatency reads the probes' Kafka timestamps back from topic (kafka-go
// stamps each record as it encodes the produce request; it reads v2 batches
// by their first timestamp, so a topic stamped with the broker's append
// time would read back the same) and splits each found probe's latency
// there (report.Latency's Edge, Index, Search).
func (s *Suite) splitLatency(ctx context.Context, topic string, l *report.Latency, written, found map[int64]time.Time, searchTook map[int64]float64) error {
	sent := map[int64]time.Time{}
	err := s.env.EachMessage(ctx, topic, func(m kafka.Message) {
		if seq, ok := seqOf(m.Value); ok {
			if _, probe := found[seq]; probe {
				if _, dup := sent[seq]; !dup {
					sent[seq] = m.Time
				}
			}
		}
	})
	if err != nil {
		return err
	}
	var edge, index, search []float64
	var sumEdge, sumFound float64
	for seq, t := range sent {
		edge = append(edge, t.Sub(written[seq]).Seconds())
		index = append(index, found[seq].Sub(t).Seconds())
		search = append(search, searchTook[seq])
		sumEdge += edge[len(edge)-1]
		sumFound += found[seq].Sub(written[seq]).Seconds()
	}
	if len(edge) == 0 {
		return fmt.Errorf("none of %d found probes read back from %s", len(found), topic)
	}
	l.MeanEdge, l.MeanFound = sumEdge/float64(len(edge)), sumFound/float64(len(edge))
	l.Edge, l.Index, l.Search = report.SpreadOf(edge), report.SpreadOf(index), report.SpreadOf(search)
	s.prog.Logf("latency split over %d probes: write → sent p50 %.2fs p99 %.2fs; sent → found p50 %.2fs p99 %.2fs (the search itself p50 %.2fs p99 %.2fs); means: sent %.2fs, acknowledged %.2fs (bulk %.2fs), found %.2fs",
		l.Edge.N, l.Edge.P50, l.Edge.P99, l.Index.P50, l.Index.P99, l.Search.P50, l.Search.P99, l.MeanEdge, l.MeanAcked, l.MeanBulk, l.MeanFound)
	return nil
}

// seqOf finds the loadgen "seq" field of an encoded record.
func seqOf(v []byte) (int64, bool) {
	i := bytes.Index(v, []byte(`"seq":`))
	if i < 0 {
		return 0, false
	}
	n, digits := int64(0), 0
	for _, c := range v[i+len(`"seq":`):] {
		if c < '0' || c > '9' {
			break
		}
		n, digits = n*10+int64(c-'0'), digits+1
	}
	return n, digits > 0
}

// searchSeqs returns which of seqs are searchable in the indices of glob.
func (s *Suite) searchSeqs(glob string, seqs []int64) ([]int64, error) {
	q, _ := json.Marshal(map[string]any{"size": len(seqs), "_source": false, "docvalue_fields": []string{"seq"},
		"query": map[string]any{"terms": map[string]any{"seq": seqs}}})
	res, err := s.es.Search(s.es.Search.WithIndex(glob), s.es.Search.WithBody(strings.NewReader(string(q))),
		s.es.Search.WithIgnoreUnavailable(true), s.es.Search.WithAllowNoIndices(true))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.IsError() {
		return nil, fmt.Errorf("search: %s", res.Status())
	}
	var out struct {
		Hits struct {
			Hits []struct {
				Fields map[string][]int64 `json:"fields"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return nil, err
	}
	var found []int64
	for _, h := range out.Hits.Hits {
		if v := h.Fields["seq"]; len(v) > 0 {
			found = append(found, v[0])
		}
	}
	return found, nil
}

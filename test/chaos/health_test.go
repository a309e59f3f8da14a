package chaos_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/agentobs/agentobs/test/chaos"
	"github.com/agentobs/agentobs/test/rig"
	"github.com/segmentio/kafka-go"
)

const (
	// recoveryBound: after every fault the pipeline makes progress again
	// (offsets committed, or nothing left to do) within it, without help.
	recoveryBound = 60 * time.Second
	// stallTimeout is the scheduled runs' indexer -health.stall-timeout
	// (product default 30 s): short, so that short freezes test it.
	stallTimeout = 10 * time.Second
	// stallBound: an indexer whose group committed nothing for this long
	// while its partitions had lag is stalled; it must not answer /readyz
	// 200 nor report a lag of 0 then (issue 18: "health from progress").
	// The stall timeout plus the indexer's 2 s poll and 3 s of sampling slack.
	stallBound = stallTimeout + 5*time.Second
	// slowBound: a server must close a connection that trickles its
	// request body (one byte a second) within it.
	slowBound = 30 * time.Second
)

// healthSample is one look at the truth and at what the indexer said.
type healthSample struct {
	at        time.Time
	trueLag   int64   // end offsets − committed offsets from the broker; -1 unknown (broker down)
	committed int64   // sum of the group's committed offsets
	ready     int     // indexer /readyz status; 0 unreachable or not running
	lagGauge  float64 // agentobs_indexer_consumer_lag_records of the record topic; -1 unknown
}

// healthWatch samples, once a second, the group's real lag and committed
// offsets straight from the broker and the indexer's /readyz and lag
// gauge, so a run can assert that health tells the truth during each
// fault and that each fault is recovered from.
type healthWatch struct {
	r       *chaosRig
	start   time.Time
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	samples []healthSample
}

func (r *chaosRig) watchHealth() *healthWatch {
	h := &healthWatch{r: r, start: time.Now(), done: make(chan struct{})}
	h.wg.Add(1)
	go h.loop()
	return h
}

func (h *healthWatch) loop() {
	defer h.wg.Done()
	cl, err := h.r.kafka.Client()
	if err != nil {
		h.r.ledger.Fail("health watch: %v", err)
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-tick.C:
		}
		s := healthSample{at: time.Now(), trueLag: -1, lagGauge: -1}
		s.trueLag, s.committed = h.truth(cl)
		ix := h.r.indexers[0]
		if ix.Running() {
			s.ready = status("http://" + ix.addr + "/readyz")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if m, err := rig.Scrape(ctx, "http://"+ix.addr+"/metrics"); err == nil {
				// The record topic's series only: the truth above is that
				// topic's, and the span pipeline's lag (topic label of the
				// span topic) must not make up for a lie about it.
				if _, ok := m["agentobs_indexer_consumer_lag_records"]; ok {
					s.lagGauge = m.Sum("agentobs_indexer_consumer_lag_records", "topic", h.r.topic)
				}
			}
			cancel()
		}
		h.mu.Lock()
		h.samples = append(h.samples, s)
		h.mu.Unlock()
	}
}

func status(url string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// truth is the group's lag and committed total from the broker (-1 when
// the broker does not answer).
func (h *healthWatch) truth(cl *kafka.Client) (lag, committed int64) {
	r := h.r
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{r.topic}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return -1, 0
	}
	var ids []int
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		ids = append(ids, p.ID)
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	ends, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{r.topic: reqs}})
	if err != nil {
		return -1, 0
	}
	offs, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: r.group, Topics: map[string][]int{r.topic: ids}})
	if err != nil || offs.Error != nil {
		return -1, 0
	}
	com := map[int]int64{}
	for _, p := range offs.Topics[r.topic] {
		if p.Error != nil {
			return -1, 0
		}
		if p.CommittedOffset > 0 {
			com[p.Partition] = p.CommittedOffset
		}
	}
	for _, p := range ends.Topics[r.topic] {
		if p.Error != nil {
			return -1, 0
		}
		lag += max(p.LastOffset-com[p.Partition], 0)
		committed += com[p.Partition]
	}
	return lag, committed
}

func (h *healthWatch) stop() {
	select {
	case <-h.done:
	default:
		close(h.done)
	}
	h.wg.Wait()
}

// verdict checks the samples: while the group was stalled beyond
// stallBound with lag, the indexer must not have said ready nor lag 0; and
// after each step, progress must resume within recoveryBound.
func (h *healthWatch) verdict(l *chaos.Ledger) {
	h.mu.Lock()
	samples := append([]healthSample(nil), h.samples...)
	h.mu.Unlock()
	h.r.mu.Lock()
	steps := append([]stepRun(nil), h.r.steps...)
	starts := append([]time.Time(nil), h.r.indexerStarts...)
	h.r.mu.Unlock()
	// since is when the indexer answering at t last started: a stall is
	// counted from the later of the last progress and that start.
	since := func(t time.Time) time.Time {
		var last time.Time
		for _, st := range starts {
			if !st.After(t) {
				last = st
			}
		}
		return last
	}
	rel := func(t time.Time) string { return "+" + t.Sub(h.start).Round(100*time.Millisecond).String() }

	var lastProgress time.Time
	var prev int64 = -1
	var readyLies, lagLies, notReady int
	var firstReadyLie, firstLagLie string
	var longest time.Duration
	progress := make([]bool, len(samples))
	for i, s := range samples {
		if i == 0 {
			lastProgress = s.at
		}
		if s.trueLag < 0 {
			continue // broker down: nothing known
		}
		if s.trueLag == 0 || (prev >= 0 && s.committed > prev) {
			lastProgress, progress[i] = s.at, true
		}
		prev = s.committed
		stalled := s.at.Sub(lastProgress)
		longest = max(longest, stalled)
		if st := since(s.at); st.After(lastProgress) {
			stalled = s.at.Sub(st) // this incarnation's share of the stall
		}
		if s.ready != 200 && s.ready != 0 {
			notReady++
		}
		if stalled <= stallBound {
			continue
		}
		if s.ready == 200 {
			readyLies++
			if firstReadyLie == "" {
				firstReadyLie = fmt.Sprintf("at %s: /readyz 200 with nothing committed for %s and lag %d", rel(s.at), stalled.Round(time.Second), s.trueLag)
			}
		}
		if s.lagGauge == 0 && s.trueLag > 0 {
			lagLies++
			if firstLagLie == "" {
				firstLagLie = fmt.Sprintf("at %s: lag gauge 0 with lag %d and nothing committed for %s", rel(s.at), s.trueLag, stalled.Round(time.Second))
			}
		}
	}
	l.Note("health: %d samples, longest stall %s, %d samples not ready", len(samples), longest.Round(time.Second), notReady)
	if readyLies > 0 {
		l.Fail("indexer said ready while stalled beyond %s in %d samples, first %s", stallBound, readyLies, firstReadyLie)
	}
	if lagLies > 0 {
		l.Fail("indexer reported lag 0 while stalled beyond %s in %d samples, first %s", stallBound, lagLies, firstLagLie)
	}
	// Recovery after each step: the first sample after the step ended
	// that shows progress (or nothing left to do).
	for _, st := range steps {
		end := h.start.Add(st.end)
		var rec time.Duration = -1
		for i, s := range samples {
			if s.at.After(end) && progress[i] {
				rec = s.at.Sub(end)
				break
			}
		}
		switch {
		case rec < 0:
			l.Fail("%s: no progress after it ended", st.step)
		case rec > recoveryBound:
			l.Fail("%s: progress resumed %s after it ended, over the %s bound", st.step, rec.Round(100*time.Millisecond), recoveryBound)
		default:
			l.Note("%s: progress %s after it ended", st.step.Op, rec.Round(100*time.Millisecond))
		}
	}
}

// slowClients trickle request bodies into the shipper's and the indexer's
// HTTP servers; each server must close such a connection within slowBound.
type slowClients struct {
	mu    sync.Mutex
	held  []time.Duration // how long each connection lasted
	stuck int             // connections still open when the step ended
}

// run opens conns connections to each target and returns when every one
// was closed by its server or given up after d.
func (s *slowClients) run(r *chaosRig, d time.Duration) {
	const conns = 5
	targets := map[string]string{r.shipper.addr: "/v1/logs", r.indexers[0].addr: "/v1/alerts"}
	limit := d
	var wg sync.WaitGroup
	for addr, path := range targets {
		for range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				held, closed := trickle(addr, path, limit)
				s.mu.Lock()
				s.held = append(s.held, held)
				if !closed {
					s.stuck++
				}
				s.mu.Unlock()
			}()
		}
	}
	wg.Wait()
}

// trickle sends a request head announcing a 100 000-byte body, then one
// byte a second, until the server answers or closes, or limit passes.
func trickle(addr, path string, limit time.Duration) (held time.Duration, closed bool) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, true
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n", path, addr)
	gone := make(chan struct{})
	go func() {
		buf := make([]byte, 512)
		_, _ = c.Read(buf) // any answer (408, 400) or EOF or reset: the server let go
		close(gone)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-gone:
			return time.Since(start), true
		case <-tick.C:
		}
		if time.Since(start) > limit {
			return time.Since(start), false
		}
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte("{")); err != nil {
			return time.Since(start), true
		}
	}
}

func (s *slowClients) verdict(l *chaos.Ledger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.held) == 0 {
		return
	}
	var longest time.Duration
	over := 0
	for _, h := range s.held {
		longest = max(longest, h)
		if h > slowBound+2*time.Second {
			over++
		}
	}
	l.Note("slow clients: %d connections, longest held %s, %d still open at the limit", len(s.held), longest.Round(time.Second), s.stuck)
	if over > 0 {
		l.Fail("%d of %d slow-client connections held longer than %s (longest %s)", over, len(s.held), slowBound, longest.Round(time.Second))
	}
}

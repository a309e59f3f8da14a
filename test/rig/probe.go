package rig

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/agentobs/agentobs/internal/esclient"
)

// probeRoundTrip writes one marked line to a file the shipper tails and
// waits until the indexer made it searchable. Traffic starts only after
// it, so a run measures the pipeline, not a consumer group still forming
// (a fresh broker answers "[15] Group Coordinator Not Available" until its
// offsets topic exists) nor the first partition assignment. The probe is
// no load generator or agent record, so it is not counted in the report;
// a new probe line is written every 10 s until one arrives.
func (p *Pipeline) probeRoundTrip(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	cl, err := esclient.Config{Addresses: []string{p.opt.ESURL}, RequestTimeout: 10 * time.Second}.NewClient()
	if err != nil {
		return 0, err
	}
	path := filepath.Join(p.opt.WorkDir, "logs", "probe.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	id := p.opt.RunID + "-probe"
	start := time.Now()
	deadline := start.Add(timeout)
	var lastWrite time.Time
	for n := 0; ; {
		if time.Since(lastWrite) >= 10*time.Second {
			n++
			line := fmt.Sprintf(`{"@timestamp":%q,"log.level":"info","service.name":"agentobs-demo","message":"pipeline probe %d","probe.id":%q}`+"\n",
				time.Now().UTC().Format(time.RFC3339Nano), n, id)
			if _, err := f.WriteString(line); err != nil {
				return 0, fmt.Errorf("write probe: %w", err)
			}
			lastWrite = time.Now()
		}
		if err := Refresh(ctx, cl, p.opt.Names.Alias); err == nil {
			var r struct {
				Hits struct {
					Total struct {
						Value int64 `json:"value"`
					} `json:"total"`
				} `json:"hits"`
			}
			q := fmt.Sprintf(`{"size":0,"track_total_hits":true,"query":{"term":{"probe.id":%q}}}`, id)
			if esJSON(ctx, cl, p.opt.Names.Alias, q, &r) == nil && r.Hits.Total.Value > 0 {
				return time.Since(start), nil
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no probe record searchable %s after writing it: the pipeline does not carry records (see %s)",
				timeout, filepath.Join(p.opt.WorkDir, "proc"))
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

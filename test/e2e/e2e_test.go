// Package e2e is the whole-pipeline test: agents and load generators →
// both front doors (shipper from files, the Fluent Bit plugin through its
// host program) → Kafka → indexer → Elasticsearch, all real processes on
// the local stack, with Prometheus scraping them.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/indexer/trace"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/agentobs/agentobs/test/rig"
)

func build(t *testing.T, dir string) map[string]string {
	t.Helper()
	root := harness.RepoRoot()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bins, err := rig.Build(ctx, root, dir, "./agent", "./shipper", "./indexer", "./collector/cmd/flbchunk")
	if err != nil {
		t.Fatal(err)
	}
	so, host, err := harness.BuildPlugin(ctx, root, dir)
	if err != nil {
		t.Fatal(err)
	}
	bins["plugin"], bins["flbhost"] = so, host
	// The plugin path runs inside real Fluent Bit (required under CI=true).
	bins["fluent-bit"] = harness.FluentBit(t)
	return bins
}

func TestWholePipeline(t *testing.T) {
	harness.RequireKafka(t)
	cl := harness.RequireES(t)
	bins := build(t, t.TempDir())
	base := harness.Name(t, "e2e")
	names := rig.Names{Topic: base, DLQTopic: base + "-dlq", Group: base, IndexPattern: base + "-logs-{2006.01.02}",
		Alias: base + "-logs", TracesIndex: base + "-traces", AlertsIndex: base + "-alerts", Partitions: 4}
	t.Cleanup(func() { harness.DeleteTopics(t, names.Topic, names.DLQTopic) })
	t.Cleanup(func() {
		if res, err := cl.Indices.Delete([]string{base + "-*"}, cl.Indices.Delete.WithAllowNoIndices(true)); err == nil {
			res.Body.Close()
		}
		if res, err := cl.Indices.DeleteIndexTemplate(base + "*"); err == nil {
			res.Body.Close()
		}
	})
	work := t.TempDir()
	agentPort, err := harness.FreePortRange(3) // rig.Options.AgentBasePort: one per agent, and one more
	if err != nil {
		t.Fatal(err)
	}
	opt := rig.Options{Bins: bins, WorkDir: work, StackDir: harness.StackDir(), Brokers: harness.Brokers(), ESURL: harness.ESURL(),
		Names: names, RunID: base, Agents: 2, AgentRate: 4, Rate: 2000, PluginRate: 1000, Records: 8000, Seed: 7,
		RotateBytes: 1 << 20, IndexerAddr: harness.FreeAddr(t), ShipperAddr: harness.FreeAddr(t), PluginAddr: harness.FreeAddr(t), AgentBasePort: agentPort, Register: true}
	ctx := context.Background()
	p, err := rig.Start(ctx, opt)
	if p != nil {
		t.Cleanup(func() { _ = p.Close() })
	}
	if err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 3*time.Minute, func() (bool, string) {
		return p.LoadgenDone() && p.PluginDone(), "load generator or plugin host still running: " + p.Status(ctx).Line()
	})
	time.Sleep(2 * time.Second) // let the live agents put a few multi-service traces on the wire
	p.StopTraffic()
	rep, err := p.Drain(ctx, cl, 2*time.Minute, nil)
	if err != nil {
		t.Fatalf("drain: %v\n%s\nindexer log:\n%s", err, p.Status(ctx).Line(), p.Indexer.Tail(20))
	}
	var sb strings.Builder
	rep.Write(&sb)
	t.Log(sb.String())
	if rep.WrittenFiles != 8000 || rep.WrittenPlugin < 8000 || rep.WrittenAgents == 0 {
		t.Fatalf("unexpected corpus: %+v", rep)
	}
	if rep.Lost() != 0 || rep.Duplicates() != 0 {
		t.Fatalf("lost %d, duplicated %d", rep.Lost(), rep.Duplicates())
	}

	// Every sampled trace comes back complete from the trace lookup, in
	// order, across services, and its summary counts what was written.
	written := countTraces(t, filepath.Join(work, "logs"), p.PluginInput())
	files, plugin, err := p.LoadgenReports()
	if err != nil {
		t.Fatal(err)
	}
	sample := append(append([]string{}, files.TraceIDs...), plugin.TraceIDs...)
	if len(sample) < 10 {
		t.Fatalf("trace sample too small: %d", len(sample))
	}
	c := trace.Client{BaseURL: "http://" + opt.IndexerAddr}
	multi := 0
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		for _, id := range sample {
			v, err := c.Trace(ctx, id, trace.Page{Size: 1000})
			if err != nil {
				return false, fmt.Sprintf("trace %s: %v", id, err)
			}
			w := written[id]
			if v.Summary == nil || v.Summary.RecordCount != w.records || v.Total != w.records || int64(len(v.Records)) != w.records {
				return false, fmt.Sprintf("trace %s: written %d records, summary %+v, lookup total %d, page %d", id, w.records, v.Summary, v.Total, len(v.Records))
			}
			if v.Summary.ErrorCount != w.errors || len(v.Summary.Services) != len(w.services) {
				return false, fmt.Sprintf("trace %s: written %d errors over %v, summary %d errors over %v", id, w.errors, w.services, v.Summary.ErrorCount, v.Summary.Services)
			}
			last := ""
			for _, raw := range v.Records {
				var r struct {
					TS string `json:"@timestamp"`
				}
				_ = json.Unmarshal(raw, &r)
				if r.TS < last {
					return false, fmt.Sprintf("trace %s out of order: %s after %s", id, r.TS, last)
				}
				last = r.TS
			}
		}
		return true, ""
	})
	for _, id := range sample {
		if len(written[id].services) > 1 {
			multi++
		}
	}
	if multi == 0 {
		t.Fatal("no multi-service trace in the sample")
	}

	// Prometheus (real, scraping the components) has the pipeline metrics,
	// and no alert is firing for them on this healthy run.
	prom := harness.PrometheusURL()
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		n, err := promValue(prom, fmt.Sprintf(`sum(agentobs_indexer_documents_indexed_total{instance=%q})`, opt.IndexerAddr))
		return err == nil && n > 0, fmt.Sprintf("indexer metric in Prometheus: %v %v", n, err)
	})
	firing, err := firingAlerts(prom, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(firing) > 0 {
		t.Fatalf("alerts firing on a healthy run: %v", firing)
	}
}

type traceCount struct {
	records, errors int64
	services        map[string]bool
}

// countTraces reads every line the load generators wrote and counts records,
// errors and services per trace id: the ground truth for the summaries.
func countTraces(t *testing.T, logDir, pluginFile string) map[string]*traceCount {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(logDir, "loadgen.log*"))
	paths = append(paths, pluginFile)
	out := map[string]*traceCount{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var l struct {
				Trace   string `json:"trace_id"`
				Level   string `json:"level"`
				Service string `json:"service.name"`
			}
			if json.Unmarshal(sc.Bytes(), &l) != nil || l.Trace == "" {
				continue
			}
			c := out[l.Trace]
			if c == nil {
				c = &traceCount{services: map[string]bool{}}
				out[l.Trace] = c
			}
			c.records++
			c.services[l.Service] = true
			if strings.EqualFold(l.Level, "error") {
				c.errors++
			}
		}
		f.Close()
	}
	return out
}

func promValue(base, q string) (float64, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if len(r.Data.Result) == 0 {
		return 0, fmt.Errorf("no result for %s", q)
	}
	var v float64
	_, err = fmt.Sscan(fmt.Sprint(r.Data.Result[0].Value[1]), &v)
	return v, err
}

// firingAlerts lists the alerts Prometheus fires for this run's targets.
func firingAlerts(base string, o rig.Options) ([]string, error) {
	resp, err := http.Get(base + "/api/v1/alerts")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Alerts []struct {
				State  string            `json:"state"`
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	ours := map[string]bool{o.IndexerAddr: true, o.ShipperAddr: true, o.PluginAddr: true}
	var out []string
	for _, a := range r.Data.Alerts {
		if a.State == "firing" && ours[a.Labels["instance"]] {
			out = append(out, a.Labels["alertname"])
		}
	}
	sort.Strings(out)
	return out, nil
}

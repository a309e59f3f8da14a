package promcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Exported is a set of series names as Prometheus stores them: a counter
// as its name (…_total), a histogram as …_bucket, …_sum and …_count, a
// summary as its name, …_sum and …_count. Each name keeps where it came
// from, so a failing check can say "exported by indexer registry".
type Exported map[string]string

// Has reports whether name is in the set.
func (e Exported) Has(name string) bool { _, ok := e[name]; return ok }

// Add records name as exported by source (the first source is kept).
func (e Exported) Add(name, source string) {
	if _, ok := e[name]; !ok {
		e[name] = source
	}
}

// AddFamilies adds every series name of mfs.
func (e Exported) AddFamilies(mfs []*dto.MetricFamily, source string) {
	for _, mf := range mfs {
		name := mf.GetName()
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				e.Add(name+s, source)
			}
		case dto.MetricType_SUMMARY:
			e.Add(name, source)
			e.Add(name+"_sum", source)
			e.Add(name+"_count", source)
		default:
			e.Add(name, source)
		}
	}
}

// AddGatherer gathers g (a registry built the way a component builds it)
// and adds its names.
func (e Exported) AddGatherer(g prometheus.Gatherer, source string) error {
	mfs, err := g.Gather()
	if err != nil {
		return fmt.Errorf("gather %s: %w", source, err)
	}
	e.AddFamilies(mfs, source)
	return nil
}

// AddScrape GETs a running component's /metrics in the Prometheus text
// format and adds its names.
func (e Exported) AddScrape(ctx context.Context, url, source string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.NewFormat(expfmt.TypeTextPlain))
	var mfs []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("scrape %s: %w", url, err)
		}
		mfs = append(mfs, mf)
	}
	e.AddFamilies(mfs, source)
	return nil
}

// WellKnown are series that Prometheus itself writes for every scrape and
// every alerting rule; no component exports them, every Prometheus has them.
var WellKnown = []string{
	"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
	"scrape_series_added", "ALERTS", "ALERTS_FOR_STATE",
}

// Missing returns the names of want that e does not hold, sorted as given.
func (e Exported) Missing(want []string) []string {
	var out []string
	for _, n := range want {
		if !e.Has(n) {
			out = append(out, n)
		}
	}
	return out
}

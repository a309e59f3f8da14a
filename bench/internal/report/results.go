// Package report holds the benchmark suite's results model and everything
// pure that is done with it: statistics (median and spread), the Markdown
// summary table, the JSON file and the PNG plots. It does no I/O other than
// writing the files it is asked to write, so `go test` covers it without the
// stack.
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"time"
)

// Stat is one figure taken several times.
type Stat struct {
	Samples []float64 `json:"samples"`
	Median  float64   `json:"median"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	// Spread is (max-min)/median: the relative range of the repetitions.
	Spread float64 `json:"spread"`
}

// Of summarises samples; an empty slice gives the zero Stat.
func Of(samples ...float64) Stat {
	if len(samples) == 0 {
		return Stat{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	st := Stat{Samples: samples, Median: med, Min: s[0], Max: s[n-1]}
	if med != 0 {
		st.Spread = (st.Max - st.Min) / med
	}
	return st
}

// Percentile is the p-th percentile (0..100) of samples, nearest rank.
func Percentile(samples []float64, p float64) float64 {
	if len(samples) == 0 {
		return math.NaN()
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}

// Figure is one row of the summary: a component's figure against its
// reference, measured in the same run.
type Figure struct {
	ID      string  `json:"id"`
	Name    string  `json:"name"`
	Unit    string  `json:"unit"`
	Value   Stat    `json:"value"`
	RefName string  `json:"reference"`
	Ref     Stat    `json:"reference_value"`
	Ratio   float64 `json:"ratio"` // Value.Median / Ref.Median
	Goal    float64 `json:"goal"`  // Ratio must be ≥ Goal
	// Extra holds secondary figures of the row (MB/s, latency, ...).
	Extra map[string]float64 `json:"extra,omitempty"`
	Note  string             `json:"note,omitempty"`
	// Err is set when the figure could not be taken.
	Err string `json:"error,omitempty"`
}

// Finish computes the ratio from the medians.
func (f *Figure) Finish() {
	if f.Ref.Median > 0 {
		f.Ratio = f.Value.Median / f.Ref.Median
	}
}

// Met reports whether the goal is reached.
func (f Figure) Met() bool { return f.Err == "" && f.Ratio >= f.Goal }

// Component is the resource cost of one process at full rate.
type Component struct {
	Name string `json:"name"`
	// Figure is where it was measured (R1, R2, ...).
	Figure string `json:"figure"`
	// PeakRSSMiB is the process's VmHWM / ru_maxrss.
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// CPUSecPerMillion is user+system CPU seconds per 1 000 000 records.
	CPUSecPerMillion float64 `json:"cpu_s_per_1m_records"`
	Records          int64   `json:"records"`
	// InProcess: measured as the bench process's own rusage delta (peak RSS
	// then is the bench process's, an upper bound).
	InProcess bool `json:"in_process,omitempty"`
}

// Point is one point of a scaling curve.
type Point struct {
	Series string  `json:"series"`
	X      float64 `json:"x"`
	Label  string  `json:"label"`
	Rate   Stat    `json:"records_per_s"`
	MBps   float64 `json:"mb_per_s"`
}

// Latency is write-to-searchable latency of R5's paced run.
type Latency struct {
	TargetRate float64 `json:"target_rate"`
	Achieved   float64 `json:"achieved_rate"`
	// FarEnd is the indexed rate while the lines were written.
	FarEnd float64 `json:"far_end_rate"`
	// Sustained is the rate the 80 % refers to.
	Sustained float64   `json:"sustained_rate"`
	P50       float64   `json:"p50_s"`
	P90       float64   `json:"p90_s"`
	P99       float64   `json:"p99_s"`
	Max       float64   `json:"max_s"`
	Probes    int       `json:"probes"`
	Missing   int       `json:"missing"`
	Samples   []float64 `json:"samples_s,omitempty"`
	// Where the time goes, per probe found: Edge is the write to the
	// moment the shipper's producer sent it (the Kafka record's timestamp,
	// which kafka-go stamps as it encodes the produce request: the tail,
	// batching and linger), Index that moment to the first search that
	// found it (the broker's append, the indexer's fetch and bulk,
	// Elasticsearch's indexing and refresh), Search the duration of that
	// search itself (part of Index).
	Edge   Spread `json:"edge_s"`
	Index  Spread `json:"index_s"`
	Search Spread `json:"search_s"`
	// Means in seconds: of the probes (write → sent, write → found),
	// and from the indexer's histograms over every record of the run
	// (write → acknowledged by Elasticsearch, one bulk request), so the
	// wait for Elasticsearch's refresh is MeanFound − MeanAcked.
	MeanEdge  float64 `json:"mean_edge_s"`
	MeanFound float64 `json:"mean_found_s"`
	MeanAcked float64 `json:"mean_acked_s"`
	MeanBulk  float64 `json:"mean_bulk_s"`
}

// Spread is the p50 and p99 of a set of durations in seconds.
type Spread struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	N   int     `json:"n"`
}

// SpreadOf is the spread of v (sorted in place).
func SpreadOf(v []float64) Spread {
	slices.Sort(v)
	return Spread{P50: Percentile(v, 50), P99: Percentile(v, 99), N: len(v)}
}

// Profile names the top costs of a component whose goal was missed.
type Profile struct {
	Figure    string   `json:"figure"`
	Component string   `json:"component"`
	File      string   `json:"file"`
	Top       []string `json:"top"`
}

// Machine is where the run happened.
type Machine struct {
	Host     string  `json:"host"`
	NProc    int     `json:"nproc"`
	MemGiB   float64 `json:"mem_gib"`
	CPU      string  `json:"cpu"`
	Kernel   string  `json:"kernel"`
	Go       string  `json:"go"`
	Java     string  `json:"java"`
	Kafka    string  `json:"kafka"`
	ES       string  `json:"elasticsearch"`
	Commit   string  `json:"commit"`
	LoadNote string  `json:"load_note,omitempty"`
	Load1    float64 `json:"load1_at_start"`
}

// Params are the sizes the run used.
type Params struct {
	Seed       int64 `json:"seed"`
	Records    int   `json:"records_1k"` // records per figure at 1 KiB
	Reps       int   `json:"reps"`
	Quick      bool  `json:"quick"`
	Sizes      []int `json:"record_sizes"`
	Partitions int   `json:"partitions"`
}

// Results is everything one run measured: bench/results/<date>-<host>.json.
type Results struct {
	Started    time.Time   `json:"started"`
	Elapsed    float64     `json:"elapsed_s"`
	Machine    Machine     `json:"machine"`
	Params     Params      `json:"params"`
	Figures    []Figure    `json:"figures"`
	Components []Component `json:"components"`
	SizeCurve  []Point     `json:"size_curve"`
	ScaleCurve []Point     `json:"scale_curve"`
	Latency    *Latency    `json:"latency,omitempty"`
	Profiles   []Profile   `json:"profiles,omitempty"`
	Notes      []string    `json:"notes,omitempty"`
}

// Figure returns the figure with id, or nil.
func (r *Results) Figure(id string) *Figure {
	for i := range r.Figures {
		if r.Figures[i].ID == id {
			return &r.Figures[i]
		}
	}
	return nil
}

// WriteJSON writes r, indented, to path.
func (r *Results) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadJSON reads a results file.
func ReadJSON(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Package env is the agent's simulated environment and its perception step.
//
// A Source is a seeded task stream: every task has a kind and a few noisy
// numeric readings (sensor-like values with Gaussian noise and occasional
// spikes). Perceive filters that noise before the decision engine sees it,
// the way a real agent cleans its inputs. The same seed always yields the
// same tasks, so demos and tests are reproducible.
package env

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// Kinds are the task kinds the environment produces. The set is closed so
// that metrics and dashboards can rely on it.
var Kinds = []string{"lookup", "compute", "summarize", "fetch"}

// Task is one unit of work for the agent.
type Task struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Readings []float64 `json:"readings"`
	// Steps is how many perceive → decide → act steps the task takes (≥ 1).
	Steps int `json:"steps"`
	// Depth counts delegations: a task received from a peer has Depth ≥ 1.
	// Agents stop delegating at the configured maximum so two agents that
	// delegate to each other cannot loop forever.
	Depth int `json:"depth"`
}

// Config describes the simulated task stream.
type Config struct {
	// Seed makes the stream reproducible. Default 1.
	Seed int64 `yaml:"seed"`
	// Rate is the number of tasks per second the environment emits; 0
	// disables the stream (tasks then arrive only over HTTP). Default 2.
	Rate float64 `yaml:"rate"`
	// Readings is the number of readings per task. Default 8.
	Readings int `yaml:"readings"`
	// Noise is the standard deviation of the Gaussian noise. Default 0.1.
	Noise float64 `yaml:"noise"`
	// SpikeRate is the probability that a reading is a spike (an outlier the
	// filter must drop). Default 0.05.
	SpikeRate float64 `yaml:"spike-rate"`
	// MaxSteps is the maximum number of steps per task. Default 3.
	MaxSteps int `yaml:"max-steps"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{Seed: 1, Rate: 2, Readings: 8, Noise: 0.1, SpikeRate: 0.05, MaxSteps: 3}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("env.rate: %v is negative; use 0 to disable the stream", c.Rate))
	}
	if c.Readings < 1 {
		errs = append(errs, fmt.Errorf("env.readings: %d must be at least 1", c.Readings))
	}
	if c.Noise < 0 {
		errs = append(errs, fmt.Errorf("env.noise: %v is negative", c.Noise))
	}
	if c.SpikeRate < 0 || c.SpikeRate > 1 {
		errs = append(errs, fmt.Errorf("env.spike-rate: %v must be within [0,1]", c.SpikeRate))
	}
	if c.MaxSteps < 1 {
		errs = append(errs, fmt.Errorf("env.max-steps: %d must be at least 1", c.MaxSteps))
	}
	return errors.Join(errs...)
}

// Source emits a reproducible stream of tasks. It is safe for concurrent use.
type Source struct {
	cfg    Config
	prefix string
	mu     sync.Mutex
	rng    *rand.Rand
	n      uint64
}

// NewSource returns a task stream; prefix makes task ids unique across
// agents that share a seed (use the agent id).
func NewSource(cfg Config, prefix string) *Source {
	return &Source{cfg: cfg, prefix: prefix, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed))}
}

// Next returns the next task of the stream.
func (s *Source) Next() Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	kind := Kinds[s.rng.IntN(len(Kinds))]
	// Each task has an underlying "true" level in [0,1); readings are that
	// level plus noise, with occasional spikes far outside the range.
	level := s.rng.Float64()
	readings := make([]float64, s.cfg.Readings)
	for i := range readings {
		v := level + s.rng.NormFloat64()*s.cfg.Noise
		if s.rng.Float64() < s.cfg.SpikeRate {
			v += (s.rng.Float64()*2 - 1) * 50
		}
		readings[i] = v
	}
	return Task{
		ID:       fmt.Sprintf("%s-%06d", s.prefix, s.n),
		Kind:     kind,
		Readings: readings,
		Steps:    1 + s.rng.IntN(s.cfg.MaxSteps),
	}
}

// Percept is what perception hands to the decision engine.
type Percept struct {
	Kind string
	// Value is the mean of the readings that survived the noise filter.
	Value float64
	// Kept and Dropped count the readings the filter kept and dropped.
	Kept, Dropped int
}

// Perceive filters noise out of a task's readings: it drops readings whose
// distance to the median exceeds 3 median absolute deviations (a robust
// outlier test that a single spike cannot skew, unlike mean ± stddev) and
// averages the rest. Non-finite readings are always dropped.
func Perceive(t Task) Percept {
	p := Percept{Kind: t.Kind}
	vals := make([]float64, 0, len(t.Readings))
	for _, v := range t.Readings {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			p.Dropped++
			continue
		}
		vals = append(vals, v)
	}
	if len(vals) == 0 {
		return p
	}
	med := median(vals)
	dev := make([]float64, len(vals))
	for i, v := range vals {
		dev[i] = math.Abs(v - med)
	}
	mad := median(dev)
	// A floor on the MAD keeps near-identical readings from rejecting
	// everything that is not bit-identical to the median.
	limit := 3 * math.Max(mad*1.4826, 0.05)
	var sum float64
	for _, v := range vals {
		if math.Abs(v-med) > limit {
			p.Dropped++
			continue
		}
		sum += v
		p.Kept++
	}
	p.Value = sum / float64(p.Kept)
	return p
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

package policy

import (
	"math/rand/v2"
	"slices"
)

// Preferred maps a task kind to the tool that suits it; the threshold policy
// exploits by using it.
var Preferred = map[string]string{
	"lookup":    "search",
	"compute":   "calculator",
	"summarize": "llm_call",
	"fetch":     "http_fetch",
}

// Threshold is the explore/exploit policy of the classic agent loop: it
// keeps a window of recent percept values and, when their average is at or
// above the threshold, exploits (uses the tool preferred for the task kind);
// below it, it explores (picks an arm uniformly at random).
type Threshold struct {
	threshold float64
	window    []float64 // ring buffer of recent values
	next      int
	filled    int
	arms      []string
	rng       *rand.Rand
}

// NewThreshold returns a threshold policy.
func NewThreshold(threshold float64, window int, arms []string, rng *rand.Rand) *Threshold {
	return &Threshold{threshold: threshold, window: make([]float64, window), arms: arms, rng: rng}
}

// Name implements Policy.
func (*Threshold) Name() string { return KindThreshold }

// Decide implements Policy.
func (t *Threshold) Decide(obs Observation) Decision {
	t.window[t.next] = obs.Value
	t.next = (t.next + 1) % len(t.window)
	t.filled = min(t.filled+1, len(t.window))
	var sum float64
	for _, v := range t.window[:t.filled] {
		sum += v
	}
	if sum/float64(t.filled) >= t.threshold {
		arm := Preferred[obs.Kind]
		if !slices.Contains(t.arms, arm) {
			arm = t.arms[0]
		}
		return Decision{Choice: ChoiceExploit, Arm: arm}
	}
	return Decision{Choice: ChoiceExplore, Arm: t.arms[t.rng.IntN(len(t.arms))]}
}

// Feedback implements Policy; the threshold policy does not learn.
func (*Threshold) Feedback(string, float64) {}

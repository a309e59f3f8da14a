package policy

import "math/rand/v2"

// EpsilonGreedy is a multi-armed bandit over the arms: with probability
// epsilon it explores a uniformly random arm, otherwise it exploits the arm
// with the highest estimated reward (ties go to the earliest arm). Estimates
// are incremental means of the rewards reported through Feedback.
type EpsilonGreedy struct {
	epsilon float64
	arms    []string
	value   map[string]float64
	count   map[string]int
	rng     *rand.Rand
}

// NewEpsilonGreedy returns a bandit with all estimates at 0.
func NewEpsilonGreedy(epsilon float64, arms []string, rng *rand.Rand) *EpsilonGreedy {
	return &EpsilonGreedy{
		epsilon: epsilon, arms: arms, rng: rng,
		value: make(map[string]float64, len(arms)), count: make(map[string]int, len(arms)),
	}
}

// Name implements Policy.
func (*EpsilonGreedy) Name() string { return KindEpsilonGreedy }

// Decide implements Policy.
func (b *EpsilonGreedy) Decide(Observation) Decision {
	if b.rng.Float64() < b.epsilon {
		return Decision{Choice: ChoiceExplore, Arm: b.arms[b.rng.IntN(len(b.arms))]}
	}
	best := b.arms[0]
	for _, a := range b.arms[1:] {
		if b.value[a] > b.value[best] {
			best = a
		}
	}
	return Decision{Choice: ChoiceExploit, Arm: best}
}

// Feedback implements Policy.
func (b *EpsilonGreedy) Feedback(arm string, reward float64) {
	b.count[arm]++
	b.value[arm] += (reward - b.value[arm]) / float64(b.count[arm])
}

// Estimate returns the current estimate and sample count of an arm.
func (b *EpsilonGreedy) Estimate(arm string) (float64, int) { return b.value[arm], b.count[arm] }

func (b *EpsilonGreedy) inherit(old *EpsilonGreedy) {
	for _, a := range b.arms {
		if n, ok := old.count[a]; ok {
			b.count[a], b.value[a] = n, old.value[a]
		}
	}
}

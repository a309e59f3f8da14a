// Package policy is the agent's decision engine: given what perception saw,
// it chooses the action of the next step.
//
// Two classic policies ship: Threshold (explore/exploit by comparing the
// average of recent percepts with a threshold) and EpsilonGreedy (a
// multi-armed bandit over the agent's tools that learns from rewards).
// The policy and its parameters are configuration; Engine holds the current
// policy and swaps it on reload (SIGHUP) without stopping the agent.
package policy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
)

// Policy names, the closed set used as the "policy" metric label.
const (
	KindThreshold     = "threshold"
	KindEpsilonGreedy = "epsilon_greedy"
)

// Kinds lists every policy name.
var Kinds = []string{KindThreshold, KindEpsilonGreedy}

// Choices, the closed set used as the "choice" metric label.
const (
	ChoiceExplore = "explore"
	ChoiceExploit = "exploit"
)

// Choices lists every choice.
var Choices = []string{ChoiceExplore, ChoiceExploit}

// ArmDelegate is the arm that hands the task to a peer agent instead of a tool.
const ArmDelegate = "delegate"

// Observation is the input of a decision.
type Observation struct {
	Kind  string  // task kind
	Value float64 // filtered percept value
}

// Decision is the chosen action.
type Decision struct {
	Choice string // ChoiceExplore or ChoiceExploit
	Arm    string // a tool name or ArmDelegate
}

// Policy chooses actions. Implementations need not be safe for concurrent
// use; Engine serialises calls.
type Policy interface {
	Name() string
	Decide(obs Observation) Decision
	// Feedback reports the reward (0..1) an arm earned.
	Feedback(arm string, reward float64)
}

// Config selects and parameterises a policy.
type Config struct {
	// Kind is "threshold" or "epsilon_greedy". Default "threshold".
	Kind string `yaml:"kind"`
	// Threshold: the threshold policy exploits when the average of recent
	// percepts is at or above it, and explores below. Default 0.5.
	Threshold float64 `yaml:"threshold"`
	// Window is how many recent percepts the threshold policy averages.
	// Default 5.
	Window int `yaml:"window"`
	// Epsilon is the exploration probability of epsilon_greedy. Default 0.1.
	Epsilon float64 `yaml:"epsilon"`
	// Arms restricts the arms the policy may choose from (tool names and
	// "delegate"); empty means every tool, plus "delegate" when peers are
	// configured. Default empty.
	Arms []string `yaml:"arms"`
	// Seed makes exploration reproducible. Default 1.
	Seed int64 `yaml:"seed"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{Kind: KindThreshold, Threshold: 0.5, Window: 5, Epsilon: 0.1, Seed: 1}
}

// Validate reports every invalid field; known lists the arms that exist.
func (c Config) Validate(known []string) error {
	var errs []error
	if !slices.Contains(Kinds, c.Kind) {
		errs = append(errs, fmt.Errorf("policy.kind: %q is unknown; use one of %v", c.Kind, Kinds))
	}
	if c.Window < 1 {
		errs = append(errs, fmt.Errorf("policy.window: %d must be at least 1", c.Window))
	}
	if c.Epsilon < 0 || c.Epsilon > 1 {
		errs = append(errs, fmt.Errorf("policy.epsilon: %v must be within [0,1]", c.Epsilon))
	}
	for _, a := range c.Arms {
		if !slices.Contains(known, a) {
			errs = append(errs, fmt.Errorf("policy.arms: %q is not available; use some of %v", a, known))
		}
	}
	return errors.Join(errs...)
}

// New builds the configured policy over arms (used when cfg.Arms is empty).
func New(cfg Config, arms []string) (Policy, error) {
	if len(cfg.Arms) > 0 {
		arms = cfg.Arms
	}
	if len(arms) == 0 {
		return nil, errors.New("policy: no arms to choose from")
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0xdec1de))
	switch cfg.Kind {
	case KindThreshold:
		return NewThreshold(cfg.Threshold, cfg.Window, slices.Clone(arms), rng), nil
	case KindEpsilonGreedy:
		return NewEpsilonGreedy(cfg.Epsilon, slices.Clone(arms), rng), nil
	}
	return nil, fmt.Errorf("policy.kind: %q is unknown; use one of %v", cfg.Kind, Kinds)
}

// Engine holds the current policy; it is safe for concurrent use and lets
// a reload swap the policy between two decisions.
type Engine struct {
	mu   sync.Mutex
	p    Policy
	arms []string
}

// NewEngine builds an engine over the default arms.
func NewEngine(cfg Config, arms []string) (*Engine, error) {
	p, err := New(cfg, arms)
	if err != nil {
		return nil, err
	}
	return &Engine{p: p, arms: slices.Clone(arms)}, nil
}

// Decide asks the current policy.
func (e *Engine) Decide(obs Observation) Decision {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.p.Decide(obs)
}

// Feedback passes a reward to the current policy.
func (e *Engine) Feedback(arm string, reward float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.p.Feedback(arm, reward)
}

// Name is the current policy's name.
func (e *Engine) Name() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.p.Name()
}

// Reload replaces the policy. A bandit reloaded as a bandit keeps what it
// has learnt (only its parameters change), so a SIGHUP that tunes epsilon
// does not throw the estimates away.
func (e *Engine) Reload(cfg Config) error {
	p, err := New(cfg, e.arms)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old, ok := e.p.(*EpsilonGreedy); ok {
		if nb, ok := p.(*EpsilonGreedy); ok {
			nb.inherit(old)
		}
	}
	e.p = p
	return nil
}

package policy

import (
	"strings"
	"testing"
)

var tools = []string{"search", "calculator", "http_fetch", "llm_call"}

func TestThresholdExploitsAboveAndExploresBelow(t *testing.T) {
	p, err := New(Config{Kind: KindThreshold, Threshold: 0.5, Window: 3, Seed: 7}, tools)
	if err != nil {
		t.Fatal(err)
	}
	f := func(kind string, v float64, wantChoice, wantArm string) {
		t.Helper()
		d := p.Decide(Observation{Kind: kind, Value: v})
		if d.Choice != wantChoice || (wantArm != "" && d.Arm != wantArm) {
			t.Fatalf("Decide(%s, %v) = %+v, want %s/%s", kind, v, d, wantChoice, wantArm)
		}
	}
	f("compute", 0.9, ChoiceExploit, "calculator") // avg 0.9
	f("lookup", 0.8, ChoiceExploit, "search")      // avg 0.85
	f("fetch", 0.0, ChoiceExploit, "http_fetch")   // avg 0.567: the window smooths one low percept
	f("fetch", 0.0, ChoiceExplore, "")             // avg 0.267
	f("fetch", 0.0, ChoiceExplore, "")             // 0.9 left the window: avg 0
	f("summarize", 1.5, ChoiceExploit, "llm_call") // avg 0.5 ≥ threshold
}

func TestThresholdFallsBackWhenPreferredArmMissing(t *testing.T) {
	p, _ := New(Config{Kind: KindThreshold, Threshold: 0, Window: 1, Arms: []string{"delegate"}}, tools)
	if d := p.Decide(Observation{Kind: "compute", Value: 1}); d.Arm != "delegate" {
		t.Fatalf("arm = %q, want delegate", d.Arm)
	}
}

func TestEpsilonGreedyLearnsBestArm(t *testing.T) {
	p, _ := New(Config{Kind: KindEpsilonGreedy, Epsilon: 0.1, Seed: 3}, tools)
	// calculator pays best; the others pay little.
	reward := map[string]float64{"search": 0.2, "calculator": 0.9, "http_fetch": 0.1, "llm_call": 0.3}
	counts := map[string]int{}
	explore := 0
	for range 2000 {
		d := p.Decide(Observation{})
		counts[d.Arm]++
		if d.Choice == ChoiceExplore {
			explore++
		}
		p.Feedback(d.Arm, reward[d.Arm])
	}
	if counts["calculator"] < 1500 {
		t.Fatalf("calculator chosen %d/2000 times, want most: %v", counts["calculator"], counts)
	}
	// epsilon 0.1 of 2000 is 200; a seeded run stays well within ±100.
	if explore < 100 || explore > 300 {
		t.Fatalf("explored %d times, want about 200", explore)
	}
}

func TestEpsilonZeroAndOne(t *testing.T) {
	greedy, _ := New(Config{Kind: KindEpsilonGreedy, Epsilon: 0}, tools)
	greedy.Feedback("llm_call", 1)
	for range 50 {
		if d := greedy.Decide(Observation{}); d != (Decision{ChoiceExploit, "llm_call"}) {
			t.Fatalf("epsilon 0 decided %+v", d)
		}
	}
	random, _ := New(Config{Kind: KindEpsilonGreedy, Epsilon: 1, Seed: 5}, tools)
	seen := map[string]bool{}
	for range 200 {
		d := random.Decide(Observation{})
		if d.Choice != ChoiceExplore {
			t.Fatalf("epsilon 1 decided %+v", d)
		}
		seen[d.Arm] = true
	}
	if len(seen) != len(tools) {
		t.Fatalf("epsilon 1 visited %v, want every arm", seen)
	}
}

func TestSameSeedSameDecisions(t *testing.T) {
	run := func() []Decision {
		p, _ := New(Config{Kind: KindEpsilonGreedy, Epsilon: 0.5, Seed: 42}, tools)
		var out []Decision
		for i := range 100 {
			d := p.Decide(Observation{})
			p.Feedback(d.Arm, float64(i%3)/2)
			out = append(out, d)
		}
		return out
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("decision %d differs: %+v vs %+v", i, a[i], b[i])
		}
	}
}

func TestEngineReloadKeepsBanditEstimates(t *testing.T) {
	e, err := NewEngine(Config{Kind: KindEpsilonGreedy, Epsilon: 0}, tools)
	if err != nil {
		t.Fatal(err)
	}
	e.Feedback("http_fetch", 1)
	if err := e.Reload(Config{Kind: KindEpsilonGreedy, Epsilon: 0, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	if d := e.Decide(Observation{}); d.Arm != "http_fetch" {
		t.Fatalf("after reload decided %+v, want the learnt http_fetch", d)
	}
	if err := e.Reload(Config{Kind: KindThreshold, Threshold: 2, Window: 1}); err != nil {
		t.Fatal(err)
	}
	if e.Name() != KindThreshold {
		t.Fatalf("name = %s", e.Name())
	}
	if err := e.Reload(Config{Kind: "nope"}); err == nil {
		t.Fatal("reload with an unknown kind succeeded")
	}
	if e.Name() != KindThreshold {
		t.Fatal("a failed reload replaced the policy")
	}
}

func TestValidate(t *testing.T) {
	err := Config{Kind: "x", Window: 0, Epsilon: 2, Arms: []string{"teleport"}}.Validate(tools)
	if err == nil {
		t.Fatal("no error")
	}
	for _, key := range []string{"policy.kind", "policy.window", "policy.epsilon", "policy.arms"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
	if err := DefaultConfig().Validate(tools); err != nil {
		t.Fatal(err)
	}
}

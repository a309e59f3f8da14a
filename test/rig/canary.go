package rig

// The canary release the demo and the canary alert's end-to-end test run:
// one agent on the canary track next to stable ones of the same job.
const (
	StableVersion = "1.0.0"
	CanaryVersion = "2.0.0-canary"
)

// StableArgs are the agent flags of a stable-track agent.
func StableArgs() []string {
	return []string{"-release.track", "stable", "-release.version", StableVersion}
}

// CanaryArgs are the agent flags of a canary-track agent. A worse canary is
// a release whose new tool policy misuses its tools: it explores at random
// and its tool calls fail about half the time, so most of its tasks fail.
// An equal canary behaves exactly like stable under a new version.
func CanaryArgs(worse bool) []string {
	args := []string{"-release.track", "canary", "-release.version", CanaryVersion}
	if worse {
		args = append(args, "-policy.kind", "epsilon_greedy", "-policy.epsilon", "1",
			"-tools.search.failure_rate", "0.5", "-tools.calculator.failure_rate", "0.5",
			"-tools.http_fetch.failure_rate", "0.5", "-tools.llm_call.failure_rate", "0.5")
	}
	return args
}

package alerts_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/agentobs/agentobs/test/harness"
	"github.com/agentobs/agentobs/test/rig"
)

// TestCanaryAlertEndToEnd runs a stable and a canary agent (the real
// binary, one job) under a real Prometheus (the Debian binary, its own temp
// dir and port) with alerts/rules/canary.yml loaded. First the canary is an
// equal release: the analysis runs on enough traffic (its z statistic and
// task counts are there) and AgentobsAgentCanaryErrorRatioWorse stays
// silent. Then the canary is replaced by a deliberately worse release
// (rig.CanaryArgs(true)): the alert fires with its exact labels.
//
// To finish in about two minutes, Prometheus scrapes and evaluates every
// 1s and the test loads a copy of canary.yml whose range windows are 20s
// and whose `for:` is 5s; the expressions, thresholds (≥ 100 canary tasks,
// z > 3, 5 points) and labels are the shipped ones, so the agents run 15
// tasks/s with 2ms tools.
func TestCanaryAlertEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts Prometheus and two agents")
	}
	promBin := requireTool(t, "prometheus")
	dir := t.TempDir()

	rules := readFile(t, "rules/canary.yml")
	rules = regexp.MustCompile(`\[(5m|10m)\]`).ReplaceAllString(rules, "[20s]")
	rules = regexp.MustCompile(`(?m)^(\s+)for: \S+$`).ReplaceAllString(rules, "${1}for: 5s")
	rulesFile := filepath.Join(dir, "canary.yml")
	must(t, os.WriteFile(rulesFile, []byte(rules), 0o644))

	fast := []string{"-env.rate", "15", "-log.level", "warn", "-workers", "8"}
	for _, tool := range []string{"search", "calculator", "http_fetch", "llm_call"} {
		fast = append(fast, "-tools."+tool+".latency", "2ms")
	}
	runAgent := func(addr, id string, seed int, release []string) *process {
		args := append([]string{"serve", "-http.addr", addr, "-name", "checkout-agent", "-id", id,
			"-env.seed", strconv.Itoa(seed), "-tools.seed", strconv.Itoa(seed), "-policy.seed", strconv.Itoa(seed)}, fast...)
		p := start(t, "agent-"+id, buildAgent(t), append(args, release...)...)
		waitHTTP(t, "http://"+addr+"/readyz", 30*time.Second)
		return p
	}
	stableAddr, canaryAddr := harness.FreeAddr(t), harness.FreeAddr(t)
	runAgent(stableAddr, "stable-0", 1, rig.StableArgs())
	canary := runAgent(canaryAddr, "canary-0", 2, rig.CanaryArgs(false))

	promAddr := harness.FreeAddr(t)
	promCfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: agentobs-agent
    static_configs: [{targets: [%q, %q]}]
`, rulesFile, stableAddr, canaryAddr)
	promFile := filepath.Join(dir, "prometheus.yml")
	must(t, os.WriteFile(promFile, []byte(promCfg), 0o644))
	start(t, "prometheus", promBin, "--config.file="+promFile, "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		"--web.listen-address="+promAddr)
	waitHTTP(t, "http://"+promAddr+"/-/ready", 30*time.Second)

	const alert = "AgentobsAgentCanaryErrorRatioWorse"
	alerts := func() string { return promQuery(t, promAddr, `count(ALERTS{alertname="`+alert+`"})`) }
	firing := func() string {
		return promQuery(t, promAddr, `count(ALERTS{alertname="`+alert+`",alertstate="firing",job="agentobs-agent",severity="warning",component="agent"})`)
	}
	canaryTasks := func() float64 {
		v, _ := strconv.ParseFloat(promQuery(t, promAddr, `job_track:agentobs_agent_tasks_finished:increase10m{job="agentobs-agent",track="canary"}`), 64)
		return v
	}

	// Equal canary: wait until the analysis has its traffic (≥ 100 canary
	// tasks in the window, both tracks' versions seen), then watch it stay
	// silent for several times the rewritten `for:`.
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		n := canaryTasks()
		z := promQuery(t, promAddr, `job:agentobs_agent_canary_error_ratio_zscore:ratio10m{job="agentobs-agent"}`)
		v := promQuery(t, promAddr, `count(count by (version) (agentobs_agent_tasks_total{job="agentobs-agent",version=~"`+rig.StableVersion+`|`+rig.CanaryVersion+`"}))`)
		return n >= 150 && z != "" && v == "2", fmt.Sprintf("canary tasks in window %.0f, z %q, versions %q", n, z, v)
	})
	for i := 0; i < 20; i++ {
		if a := alerts(); a != "" {
			t.Fatalf("equal canary: %s is %s (pending or firing); excess %s, z %s", alert, a,
				promQuery(t, promAddr, `job:agentobs_agent_canary_error_ratio_excess:ratio10m`),
				promQuery(t, promAddr, `job:agentobs_agent_canary_error_ratio_zscore:ratio10m`))
		}
		time.Sleep(time.Second)
	}
	t.Logf("equal canary: silent on %.0f canary tasks per window, excess %s, z %s", canaryTasks(),
		promQuery(t, promAddr, `job:agentobs_agent_canary_error_ratio_excess:ratio10m`),
		promQuery(t, promAddr, `job:agentobs_agent_canary_error_ratio_zscore:ratio10m`))

	// Worse canary on the same address: the alert fires.
	canary.stop()
	runAgent(canaryAddr, "canary-0", 2, rig.CanaryArgs(true))
	harness.Eventually(t, 90*time.Second, func() (bool, string) {
		return firing() == "1", fmt.Sprintf("%s: %q firing; excess %s, z %s, canary tasks %.0f", alert, firing(),
			promQuery(t, promAddr, `job:agentobs_agent_canary_error_ratio_excess:ratio10m`),
			promQuery(t, promAddr, `job:agentobs_agent_canary_error_ratio_zscore:ratio10m`), canaryTasks())
	})
	t.Logf("worse canary: firing; excess %s, z %s",
		promQuery(t, promAddr, `job:agentobs_agent_canary_error_ratio_excess:ratio10m`),
		promQuery(t, promAddr, `job:agentobs_agent_canary_error_ratio_zscore:ratio10m`))
}

package rig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/agentobs/agentobs/alerts/amapi"
	"github.com/agentobs/agentobs/indexer/trace"
)

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
			"-tools.search.failure-rate", "0.5", "-tools.calculator.failure-rate", "0.5",
			"-tools.http_fetch.failure-rate", "0.5", "-tools.llm_call.failure-rate", "0.5")
	}
	return args
}

// CanaryAlert is the alert a worse canary must raise.
const CanaryAlert = "AgentobsAgentCanaryErrorRatioWorse"

// CanaryVerdict is what the local stack says about a run's canary: the
// alert's state in Prometheus and Alertmanager, the analysis behind it, and
// the failing traces of the canary release from the indexer.
type CanaryVerdict struct {
	PromState     string  // firing, pending, or "" (not active)
	AMActive      bool    // Alertmanager holds it as active
	CanaryRatio   float64 // error ratio per track over the analysis window
	StableRatio   float64
	Z             float64 // two-proportion z statistic
	CanaryTasks   float64 // canary tasks in the window
	FailingTraces []trace.Summary
	Trace         *trace.View // the failing canary trace crossing the most services
}

// Canary asks the local stack's Prometheus and Alertmanager about the
// canary alert and the indexer for the failing traces of CanaryVersion.
func (p *Pipeline) Canary(ctx context.Context, promURL, amURL string) (CanaryVerdict, error) {
	var v CanaryVerdict
	pc, err := promapi.NewClient(promapi.Config{Address: promURL})
	if err != nil {
		return v, fmt.Errorf("prometheus client: %w", err)
	}
	api := promv1.NewAPI(pc)
	scalar := func(q string) (float64, error) {
		res, _, _, err := api.Query(ctx, q, time.Now())
		if err != nil {
			return 0, fmt.Errorf("prometheus query %s: %w", q, err)
		}
		if vec, ok := res.(model.Vector); ok && len(vec) > 0 {
			return float64(vec[0].Value), nil
		}
		return math.NaN(), nil
	}
	alerts, err := api.Alerts(ctx)
	if err != nil {
		return v, fmt.Errorf("prometheus alerts: %w", err)
	}
	for _, a := range alerts.Alerts {
		if string(a.Labels["alertname"]) == CanaryAlert && string(a.Labels["job"]) == "agentobs-agent" {
			v.PromState = string(a.State)
		}
	}
	for q, dst := range map[string]*float64{
		`job_track:agentobs_agent_task_error_ratio:ratio10m{job="agentobs-agent",track="canary"}`:  &v.CanaryRatio,
		`job_track:agentobs_agent_task_error_ratio:ratio10m{job="agentobs-agent",track="stable"}`:  &v.StableRatio,
		`job:agentobs_agent_canary_error_ratio_zscore:ratio10m{job="agentobs-agent"}`:              &v.Z,
		`job_track:agentobs_agent_tasks_finished:increase10m{job="agentobs-agent",track="canary"}`: &v.CanaryTasks,
	} {
		if *dst, err = scalar(q); err != nil {
			return v, err
		}
	}
	am, err := amapi.New(amURL)
	if err != nil {
		return v, err
	}
	active, err := am.Alerts(ctx, `alertname="`+CanaryAlert+`"`)
	if err != nil {
		return v, fmt.Errorf("alertmanager: %w", err)
	}
	v.AMActive = len(active) > 0

	c := trace.Client{BaseURL: "http://" + p.opt.IndexerAddr}
	v.FailingTraces, err = c.List(ctx, trace.ListQuery{Version: CanaryVersion, Errors: true, Limit: 200, Since: p.started.Add(-time.Minute)})
	if err != nil {
		return v, fmt.Errorf("failing canary traces: %w", err)
	}
	if len(v.FailingTraces) > 0 {
		if v.Trace, err = c.Trace(ctx, widest(v.FailingTraces).TraceID, trace.Page{Size: 200}); err != nil {
			return v, err
		}
	}
	return v, nil
}

// Write prints the verdict for people.
func (v CanaryVerdict) Write(w io.Writer) {
	state := v.PromState
	if state == "" {
		state = "not active"
	}
	fmt.Fprintf(w, "\ncanary release %s of agent-a beside stable %s (job agentobs-agent):\n", CanaryVersion, StableVersion)
	fmt.Fprintf(w, "  task error ratio       canary %.1f %%  stable %.1f %%  (10m window, %.0f canary tasks, z = %.1f)\n",
		100*v.CanaryRatio, 100*v.StableRatio, v.CanaryTasks, v.Z)
	fmt.Fprintf(w, "  %s  Prometheus: %s   Alertmanager: %s\n", CanaryAlert, state, map[bool]string{true: "active", false: "not active"}[v.AMActive])
	fmt.Fprintf(w, "  failing traces of %s: %d (GET /v1/traces?version=%s&errors=true)\n", CanaryVersion, len(v.FailingTraces), CanaryVersion)
}

// EnsureCanaryRules makes sure Prometheus evaluates the canary rules: a
// local stack started before alerts/rules/canary.yml existed has not read
// it, so it is asked to reload its configuration (POST /-/reload, which the
// stack enables) once.
func EnsureCanaryRules(ctx context.Context, promURL string) error {
	pc, err := promapi.NewClient(promapi.Config{Address: promURL})
	if err != nil {
		return fmt.Errorf("prometheus client: %w", err)
	}
	api := promv1.NewAPI(pc)
	loaded := func() (bool, error) {
		rules, err := api.Rules(ctx, nil)
		if err != nil {
			return false, fmt.Errorf("prometheus rules: %w", err)
		}
		for _, g := range rules.Groups {
			if g.Name == "agentobs-agents-canary" {
				return true, nil
			}
		}
		return false, nil
	}
	if ok, err := loaded(); ok || err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(promURL, "/")+"/-/reload", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("prometheus reload: %w", err)
	}
	resp.Body.Close()
	if ok, err := loaded(); !ok || err != nil {
		return errors.Join(err, fmt.Errorf("prometheus at %s does not load the group agentobs-agents-canary (alerts/rules/canary.yml) even after a reload (%s)", promURL, resp.Status))
	}
	return nil
}

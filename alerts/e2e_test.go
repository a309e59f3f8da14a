package alerts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentobs/agentobs/alerts/amapi"
	idxalerts "github.com/agentobs/agentobs/indexer/webhook"
	"github.com/agentobs/agentobs/test/harness"
)

// TestAlertFiresAndResolvesEndToEnd proves the rules fire for real: a real
// Prometheus (the Debian binary, its own temp dir and port) scrapes a real
// agent with alerts/rules loaded and sends to a real Alertmanager running
// alerts/alertmanager.yml, whose webhook is the indexer's own receiver
// (indexer/webhook) writing into the stack's Elasticsearch. The fault: the
// agent is stopped, so its scrape fails (up == 0). The test sees
// AgentobsAgentDown firing through the Alertmanager API v2 client with the
// exact labels, finds the webhook's copy in Elasticsearch, restarts the
// agent, and sees the alert resolve in both places.
//
// To finish in about a minute, Prometheus scrapes and evaluates every 1s,
// and the test loads a temporary copy of the rule files whose `for:` is
// rewritten to 5s, and of alertmanager.yml with 1s group timings; the
// expressions, labels and annotations are the shipped ones.
func TestAlertFiresAndResolvesEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs the local stack")
	}
	promBin := requireTool(t, "prometheus")
	amBin := requireTool(t, "prometheus-alertmanager")
	es := harness.RequireES(t)
	index := harness.Index(t) + "-alerts"
	dir := t.TempDir()

	// The indexer's webhook receiver, in-process.
	var mu sync.Mutex
	var notified []string
	rc := idxalerts.NewReceiver(es, index, countFunc(func(status string) {
		mu.Lock()
		notified = append(notified, status)
		mu.Unlock()
	}), slog.New(slog.DiscardHandler))
	wh := httptest.NewServer(rc)
	t.Cleanup(wh.Close)

	// Rules with short `for`.
	rulesDir := filepath.Join(dir, "rules")
	must(t, os.MkdirAll(rulesDir, 0o755))
	files, _ := filepath.Glob("rules/*.yml")
	forRe := regexp.MustCompile(`(?m)^(\s+)for: \S+$`)
	for _, f := range files {
		b := forRe.ReplaceAll([]byte(readFile(t, f)), []byte("${1}for: 5s"))
		must(t, os.WriteFile(filepath.Join(rulesDir, filepath.Base(f)), b, 0o644))
	}

	// The production Alertmanager config, pointed at the test webhook.
	amCfg := readFile(t, "alertmanager.yml")
	for old, repl := range map[string]string{
		"http://indexer:9400/v1/alerts": wh.URL + "/v1/alerts",
		"group_wait: 30s":               "group_wait: 1s",
		"group_interval: 5m":            "group_interval: 1s",
	} {
		if !strings.Contains(amCfg, old) {
			t.Fatalf("alertmanager.yml no longer contains %q; update the test", old)
		}
		amCfg = strings.ReplaceAll(amCfg, old, repl)
	}
	amFile := filepath.Join(dir, "alertmanager.yml")
	must(t, os.WriteFile(amFile, []byte(amCfg), 0o644))
	amAddr := harness.FreeAddr(t)
	start(t, "alertmanager", amBin, "--config.file="+amFile, "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")

	agentAddr := harness.FreeAddr(t)
	agent := startAgent(t, agentAddr, "0")

	promAddr := harness.FreeAddr(t)
	promCfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
alerting:
  alertmanagers: [{static_configs: [{targets: [%q]}]}]
scrape_configs:
  - job_name: agentobs-agent
    static_configs: [{targets: [%q]}]
`, filepath.Join(rulesDir, "*.yml"), amAddr, agentAddr)
	promFile := filepath.Join(dir, "prometheus.yml")
	must(t, os.WriteFile(promFile, []byte(promCfg), 0o644))
	start(t, "prometheus", promBin, "--config.file="+promFile, "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		"--web.listen-address="+promAddr)
	waitHTTP(t, "http://"+amAddr+"/-/ready", 30*time.Second)
	waitHTTP(t, "http://"+promAddr+"/-/ready", 30*time.Second)

	am, err := amapi.New("http://" + amAddr)
	must(t, err)
	ctx := context.Background()
	agentDown := func() []amapi.Alert {
		as, err := am.Alerts(ctx, `alertname="AgentobsAgentDown"`)
		if err != nil {
			t.Logf("alertmanager: %v", err)
		}
		return as
	}

	// Healthy: the agent is scraped, and a few evaluations later nothing fires.
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		v := promQuery(t, promAddr, `up{job="agentobs-agent"}`)
		return v == "1", "up = " + v
	})
	time.Sleep(8 * time.Second) // longer than the rewritten for: 5s
	if as, err := am.Alerts(ctx); err != nil || len(as) > 0 {
		t.Fatalf("alerts while everything is healthy (err %v): %+v", err, as)
	}

	// Fault: the agent goes away.
	agent.stop()
	want := map[string]string{"alertname": "AgentobsAgentDown", "severity": "warning", "component": "agent",
		"job": "agentobs-agent", "instance": agentAddr}
	harness.Eventually(t, 90*time.Second, func() (bool, string) {
		as := agentDown()
		if len(as) != 1 {
			return false, fmt.Sprintf("%d AgentobsAgentDown alerts", len(as))
		}
		return amapi.LabelString(as[0].Labels) == amapi.LabelString(want) && as[0].State == "active",
			fmt.Sprintf("%s %s", as[0].State, amapi.LabelString(as[0].Labels))
	})
	a := agentDown()[0]
	if got := a.Annotations["runbook_url"]; got != "https://github.com/agentobs/agentobs/blob/main/alerts/runbooks.md#agentobsagentdown" {
		t.Errorf("runbook_url = %q", got)
	}
	if got, want := a.Annotations["summary"], "agent "+agentAddr+" is down"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		return esHas(t, index, "firing", agentAddr)
	})

	// Remove the fault: the agent comes back on the same address.
	startAgent(t, agentAddr, "0")
	harness.Eventually(t, 90*time.Second, func() (bool, string) {
		as := agentDown()
		return len(as) == 0, fmt.Sprintf("%d AgentobsAgentDown alerts still active", len(as))
	})
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		return esHas(t, index, "resolved", agentAddr)
	})
	mu.Lock()
	t.Logf("webhook notifications stored: %v", notified)
	mu.Unlock()
}

type countFunc func(status string)

func (f countFunc) Inc(status string) { f(status) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// promQuery returns the value of the first sample of an instant query, or "".
func promQuery(t *testing.T, addr, q string) string {
	resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if json.NewDecoder(resp.Body).Decode(&r) != nil || len(r.Data.Result) == 0 {
		return ""
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	return s
}

// esHas reports whether the alert index holds an AgentobsAgentDown event
// with status for instance, as the indexer's webhook stores it.
func esHas(t *testing.T, index, status, instance string) (bool, string) {
	q := fmt.Sprintf(`alertname:AgentobsAgentDown AND status:%s`, status)
	resp, err := http.Get(harness.ESURL() + "/" + index + "/_search?q=" + url.QueryEscape(q))
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	var r struct {
		Hits struct {
			Hits []struct {
				Source struct {
					Status   string            `json:"status"`
					Severity string            `json:"severity"`
					Labels   map[string]string `json:"labels"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return false, "search: " + err.Error()
	}
	for _, h := range r.Hits.Hits {
		s := h.Source
		if s.Status == status && s.Severity == "warning" && s.Labels["instance"] == instance && s.Labels["component"] == "agent" {
			return true, ""
		}
	}
	return false, fmt.Sprintf("%d %s documents in %s, none for %s", len(r.Hits.Hits), status, index, instance)
}

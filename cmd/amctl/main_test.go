package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/alerts/amapi"
)

// TestAmctlAgainstAlertmanager runs amctl's commands against a real
// Alertmanager of its own: an alert posted for the indexer is listed, a
// maintenance silence for the indexer suppresses it, expiring the silence
// makes it active again.
func TestAmctlAgainstAlertmanager(t *testing.T) {
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("AGENTOBS_REQUIRE_STACK") == "1" {
			t.Fatal("prometheus-alertmanager not found: run scripts/stack.sh install")
		}
		t.Skip("prometheus-alertmanager not found")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "am.yml")
	if err := os.WriteFile(cfg, []byte("route: {receiver: none}\nreceivers: [{name: none}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+dir, "--web.listen-address="+addr, "--cluster.listen-address=")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "http://" + addr
	eventually(t, func() bool {
		r, err := http.Get(url + "/-/ready")
		return err == nil && r.Body.Close() == nil && r.StatusCode == 200
	})

	// An alert as Prometheus would send it.
	body := fmt.Sprintf(`[{"labels":{"alertname":"AgentobsIngestionStalled","severity":"critical","component":"indexer"},"startsAt":%q}]`,
		time.Now().UTC().Format(time.RFC3339))
	resp, err := http.Post(url+"/api/v2/alerts", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("post alert: %v %v", err, resp)
	}
	amctl := func(args ...string) string {
		var out bytes.Buffer
		if err := run(context.Background(), append([]string{"-url", url}, args...), &out); err != nil {
			t.Fatalf("amctl %v: %v\n%s", args, err, logs.String())
		}
		return out.String()
	}
	var out string
	eventually(t, func() bool {
		out = amctl("alerts", "-filter", `component="indexer"`)
		return strings.Contains(out, "1 alerts")
	})
	if want := `AgentobsIngestionStalled	active	since `; !strings.Contains(out, want) ||
		!strings.Contains(out, `{alertname="AgentobsIngestionStalled", component="indexer", severity="critical"}`) {
		t.Fatalf("amctl alerts:\n%s", out)
	}
	id := strings.TrimSpace(amctl("silence", "-component", "indexer", "-duration", "30m", "-comment", "rolling update", "-author", "test"))
	eventually(t, func() bool { return strings.Contains(amctl("alerts"), "AgentobsIngestionStalled\tsuppressed") })
	c, _ := amapi.New(url)
	if st, err := c.SilenceState(context.Background(), id); err != nil || st != "active" {
		t.Fatalf("silence %s state %q, %v", id, st, err)
	}
	amctl("expire", id)
	if st, err := c.SilenceState(context.Background(), id); err != nil || st != "expired" {
		t.Fatalf("silence %s state %q after expire, %v", id, st, err)
	}
	eventually(t, func() bool { return strings.Contains(amctl("alerts"), "AgentobsIngestionStalled\tactive") })

	if err := run(context.Background(), []string{"-url", url, "silence"}, &bytes.Buffer{}); err == nil {
		t.Error("silence without -component succeeded")
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20s")
		}
	}
}

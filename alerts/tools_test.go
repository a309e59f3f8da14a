package alerts_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The rule files and the Alertmanager config through the upstream tools, as
// users run them: promtool check rules, promtool test rules, amtool.

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(requireTool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtoolCheckRules(t *testing.T) {
	files, _ := filepath.Glob("rules/*.yml")
	if len(files) == 0 {
		t.Fatal("no rule files in rules/")
	}
	run(t, "promtool", append([]string{"check", "rules"}, files...)...)
}

func TestPromtoolTestRules(t *testing.T) {
	files, _ := filepath.Glob("tests/*.yml")
	if len(files) == 0 {
		t.Fatal("no rule tests in tests/")
	}
	run(t, "promtool", append([]string{"test", "rules"}, files...)...)
}

// Every alert has a unit test, and so does every rule file.
func TestEveryAlertHasAUnitTest(t *testing.T) {
	rules := loadRules(t)
	tests, _ := filepath.Glob("tests/*.yml")
	var all strings.Builder
	for _, f := range tests {
		all.WriteString(readFile(t, f))
	}
	for _, r := range rules {
		if r.Alert != "" && !strings.Contains(all.String(), "alertname: "+r.Alert+"\n") {
			t.Errorf("%s: alert %s has no promtool test case in tests/ with a firing expectation", r.File, r.Alert)
		}
	}
}

func TestAmtoolCheckConfig(t *testing.T) {
	run(t, "amtool", "check-config", "alertmanager.yml")
	for _, c := range []struct {
		labels []string
		want   string
	}{
		{[]string{"severity=critical", "component=indexer", "alertname=AgentobsComponentDown"}, "indexer,platform-pager"},
		{[]string{"severity=critical", "component=agent"}, "indexer,agents-pager"},
		{[]string{"severity=warning", "component=shipper"}, "indexer,platform-chat"},
		{[]string{"severity=warning", "component=agent"}, "indexer,agents-chat"},
		{[]string{"severity=info", "component=indexer"}, "indexer,blackhole"},
	} {
		out := strings.Split(strings.TrimSpace(run(t, "amtool", append([]string{"config", "routes", "test", "--config.file=alertmanager.yml"}, c.labels...)...)), "\n")
		got := out[len(out)-1] // amtool may warn on the lines before
		if got != c.want {
			t.Errorf("route of %v = %q, want %q", c.labels, got, c.want)
		}
	}
}

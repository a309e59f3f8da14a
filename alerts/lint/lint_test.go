package lint

import (
	"strings"
	"testing"
)

func TestCheckFindsEveryBrokenConvention(t *testing.T) {
	rules, err := Load("testdata/bad.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.RunbookFile = "testdata/runbooks.md"
	problems := Check(cfg, rules)
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		`testdata/bad.yml: group "bad": rule "indexer_rate": recording rule name "indexer_rate" is not level:metric:operations; fix: name it like`,
		`rule "no_for_lowercase": alert name "no_for_lowercase" is not UpperCamelCase`,
		`rule "no_for_lowercase": alert has no for; fix: add for:`,
		`rule "no_for_lowercase": severity label "page" is not one of [critical warning info]`,
		`rule "no_for_lowercase": component label "database" is not one of`,
		`rule "no_for_lowercase": annotation description is missing`,
		`rule "no_for_lowercase": annotation runbook_url is missing`,
		`rule "GaugeRate": rate() over agentobs_indexer_consumer_lag_records, which is not a counter; fix: use deriv() or delta()`,
		`rule "CounterDelta": delta() over the counter agentobs_indexer_documents_indexed_total; fix: use rate() or increase()`,
		`rule "ShortRange": range [30s] of agentobs_agent_steps_total is shorter than 4 scrape intervals (1m0s); fix: widen it to at least [1m0s]`,
		`rule "UnboundedBy": sum by (trace_id) keeps label "trace_id", whose values are not a known closed set; fix: aggregate it away`,
		`rule "UnboundedBy": description shows no value`,
		`rule "UnboundedBy": runbook_url "https://example.com/runbooks#wrong" does not point at the alert's runbook section; fix: set it to https://github.com/agentobs/agentobs/blob/main/alerts/runbooks.md#unboundedby`,
		`rule "UnboundedBy": the runbook has no section for this alert; fix: add a "## UnboundedBy" section`,
		`rule "RegexName": selector without a literal metric name`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing problem %q in:\n%s", want, all)
		}
	}
	// GaugeRate has a runbook section, so that check is quiet for it.
	if strings.Contains(all, `rule "GaugeRate": the runbook has no section`) {
		t.Errorf("GaugeRate's runbook section was not found:\n%s", all)
	}
	if len(problems) != 18 {
		t.Errorf("%d problems, want 18:\n%s", len(problems), all)
	}
}

func TestShippedRulesAreClean(t *testing.T) {
	rules, err := Load("../rules/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.RunbookFile = "../runbooks.md"
	for _, p := range Check(cfg, rules) {
		t.Error(p)
	}
}

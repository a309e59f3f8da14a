package links

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

const id = "4bf92f3577b34da6a3ce929d0e0e4736"

func TestLinks(t *testing.T) {
	c := DefaultConfig()
	f := func(l Link, want string) {
		t.Helper()
		if l.URL != want {
			t.Errorf("%s:\n got %s\nwant %s", l.Name, l.URL, want)
		}
	}
	f(GrafanaDashboard("", GrafanaValue, "${__url_time_range}"), "/d/agentobs-logs-traces/agentobs-logs-and-traces?var-trace_id=${__value.raw}&${__url_time_range}")
	f(Jaeger(c.JaegerURL, id), "http://localhost:16686/trace/"+id)
	f(Explorer(c.ExplorerURL, KibanaValue), "http://localhost:9400/ui/traces/{{value}}")
	f(Kibana(c.KibanaURL, JaegerTrace), `http://localhost:5601/app/discover#/view/agentobs-trace-records?_g=(time:(from:now-7d,to:now))&_a=(query:(language:kuery,query:'trace.id:"#{traceID}"'))`)
	// Explore: the placeholder survives the URL encoding of the panes JSON.
	l := GrafanaExploreLogs("", GrafanaValue)
	if !strings.Contains(l.URL, GrafanaValue) {
		t.Errorf("explore link lost its placeholder: %s", l.URL)
	}
	u, err := url.Parse(GrafanaExploreLogs("", id).URL)
	if err != nil || !strings.Contains(u.Query().Get("panes"), `"query":"trace.id:\"`+id+`\""`) {
		t.Errorf("explore panes %q (%v)", u.Query().Get("panes"), err)
	}
	if Query(id) != `trace.id:"`+id+`"` {
		t.Errorf("Query = %s", Query(id))
	}
	if risonEscape("it's!") != "it!'s!!" {
		t.Errorf("rison escape = %s", risonEscape("it's!"))
	}
	start := time.Unix(100, 0)
	if from, to := TraceToLogsWindow(start, start.Add(time.Second)); from != start.Add(-time.Second) || to != start.Add(2*time.Second) {
		t.Errorf("window %v..%v", from, to)
	}
}

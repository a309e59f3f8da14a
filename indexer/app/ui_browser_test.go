package app

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/agentobs/agentobs/test/rig"
	"github.com/chromedp/chromedp"
	"github.com/segmentio/kafka-go"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// browser is a headless Chromium for one test, collecting console errors
// and warnings, uncaught exceptions and browser log entries (CSP reports).
type browser struct {
	t     *testing.T
	ctx   context.Context
	mu    sync.Mutex
	errs  []string
	shots string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := harness.RequireChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000), chromedp.Flag("disable-gpu", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, shots: os.Getenv("AGENTOBS_SCREENSHOTS")}
	if b.shots == "" {
		b.shots = t.TempDir()
	}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancelC()
		cancelA()
		t.Fatalf("start chromium %s: %v", path, err)
	}
	lctx, cancelL := context.WithCancel(ctx)
	done := make(chan struct{})
	msgs := chromedp.Console(lctx)
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.errs = append(b.errs, string(m.Type)+": "+m.Text+" "+m.URL)
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancelL(); <-done; cancelC(); cancelA() })
	return b
}

func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func get[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(get(b, "text of "+sel, chromedp.TextContent(chromedp.CSS(sel))))
}

// textOr is the text of sel, or "" when nothing matches.
func (b *browser) textOr(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(get(b, "text of "+sel, chromedp.Evaluate[string](fmt.Sprintf("(document.querySelector(%q) || {}).textContent || ''", sel))))
}

func (b *browser) count(sel string) int {
	b.t.Helper()
	return get(b, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	buf := get(b, "screenshot "+name, chromedp.FullScreenshot(100))
	p := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", p)
}

// noErrors fails on any console error, exception or CSP violation so far.
func (b *browser) noErrors(page string) {
	b.t.Helper()
	time.Sleep(200 * time.Millisecond) // let the event queue drain
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errs) > 0 {
		b.t.Errorf("%s: browser reported errors: %q", page, b.errs)
		b.errs = nil
	}
}

// The explorer in a real browser, on records written through Kafka and the
// indexer: search → failing trace → first error → session, hostile content
// inert, no console errors or CSP violations on any page.
func TestExplorerInBrowser(t *testing.T) {
	e := newEnv(t, 2)
	br := newBrowser(t)
	e.cfg.SpansTopic = harness.Topic(t, 1)
	e.cfg.Audit.Interval, e.cfg.Audit.Grace = 10*time.Second, 20*time.Second // the health page shows the last audit
	e.cfg.UI.PrometheusURL = harness.PrometheusURL()
	harness.RequireHTTP(t, "Prometheus", strings.TrimPrefix(harness.PrometheusURL(), "http://"))
	a, _ := e.start(e.cfg)
	base := "http://" + a.Addr()
	// The local Prometheus scrapes this indexer (its exemplars feed the Alerts page).
	job := harness.Name(t, "job")
	unregister, err := rig.RegisterTargets(harness.StackDir(), job, job, a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unregister)

	tid, other := traceID(31), traceID(32)
	session := "sess-ui-" + harness.Name(t, "s")[3:12]
	t0 := time.Now().Add(-2 * time.Minute).UTC().Truncate(time.Millisecond)
	services := []string{"planner", "tool-runner", "llm-gateway"}
	var recs []*record.Record
	for i := range 12 {
		lvl := record.LevelInfo
		if i == 5 || i == 9 {
			lvl = record.LevelError
		}
		r := rec(i, tid, services[i%3], t0.Add(time.Duration(i)*40*time.Millisecond), lvl)
		r.Fields["session.id"] = session
		// One producer with seq 7 lost on the way: the audit on the health page finds it.
		r.Fields[record.FieldProducerID], r.Fields[record.FieldProducerSeq] = "ui-test-producer", i+1+i/6
		if services[i%3] == "llm-gateway" {
			r.Fields["gen_ai.usage.input_tokens"] = 100
			r.Fields["gen_ai.usage.output_tokens"] = 10
			r.Fields["gen_ai.request.model"] = "model-a"
		}
		if services[i%3] == "tool-runner" {
			r.Fields["gen_ai.tool.name"] = "web_search"
		}
		recs = append(recs, r)
	}
	// Hostile content: markup, an inline handler, ANSI colour, a bidi
	// override, and a message far over the page's cut.
	recs[3].Message = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> ` + "\x1b[31mRED\x1b[0m \u202Eevil\u202C"
	recs[3].Fields["<b>key</b>"] = `<iframe src="javascript:alert(1)"></iframe>`
	recs[7].Message = "big:" + strings.Repeat("0123456789", 20000)
	for i := range 3 {
		r := rec(100+i, other, "planner", t0.Add(time.Second+time.Duration(i)*time.Millisecond), record.LevelInfo)
		r.Fields["session.id"] = session
		r.Fields["gen_ai.usage.input_tokens"] = 7
		recs = append(recs, r)
	}
	recs = append(recs, rec(200, "", "planner", t0.Add(2*time.Second), record.LevelInfo)) // no trace: lowers coverage
	e.produce(recs)
	e.produceRaw(uiSpans(e.cfg.SpansTopic, tid, t0, services))
	// Two records that can never be indexed: dead letters on the health page.
	e.produceRaw([]kafka.Message{{Topic: e.topic, Value: []byte("not json <b>at all</b>")}, {Topic: e.topic, Value: []byte(`{"message":`)}})
	var sum struct {
		Summary *struct {
			RecordCount int `json:"record_count"`
		} `json:"summary"`
	}
	// Summaries come from their own rounds, off the document path; on a
	// loaded machine the first round (which creates the summary index) has
	// taken over a minute.
	harness.Eventually(t, 150*time.Second, func() (bool, string) {
		code := e.get(a, "/v1/traces/"+tid, &sum)
		return code == 200 && sum.Summary != nil && sum.Summary.RecordCount == 12, fmt.Sprintf("status %d %+v", code, sum.Summary)
	})
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		var v struct {
			Spans *struct {
				SpanCount int `json:"span_count"`
			} `json:"spans"`
		}
		code := e.get(a, "/v1/traces/"+tid, &v)
		return code == 200 && v.Spans != nil && v.Spans.SpanCount == 12, fmt.Sprintf("status %d spans %+v", code, v.Spans)
	})
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		var l struct{ Traces []any }
		e.get(a, "/v1/traces?errors=true", &l)
		return len(l.Traces) == 1, fmt.Sprintf("%d failing traces listed", len(l.Traces))
	})
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		return e.count(nil) == 16, fmt.Sprintf("%d records indexed", e.count(nil))
	})

	// Search: every record counted, the histogram drawn, the failing trace listed.
	br.run("open search", chromedp.Navigate(base+"/ui/?range=15m"), chromedp.WaitVisible(chromedp.CSS("#histogram")))
	if got := br.text("#total"); got != "16" {
		t.Errorf("search total %q want 16", got)
	}
	if n := br.count("#histogram rect.all"); n < 10 {
		t.Errorf("histogram has %d bars", n)
	}
	if n := br.count(`#failing a.trace-link`); n != 1 {
		t.Errorf("failing traces listed: %d want 1: %s", n, get(br, "page", chromedp.OuterHTML(chromedp.CSS("main"))))
	}
	br.screenshot("ui-search")
	br.noErrors("search")

	// Filter by level: only the two errors.
	br.run("search errors", chromedp.Navigate(base+"/ui/?range=15m&level=error"), chromedp.WaitVisible(chromedp.CSS("#total")))
	if got := br.text("#total"); got != "2" {
		t.Errorf("level=error total %q want 2", got)
	}

	// Two alerts from Alertmanager through the real webhook: one whose rule
	// expression selects this indexer's end-to-end latency histogram (its
	// exemplars, scraped by the local Prometheus, name the traces), one
	// without an expression (the error traces of its service).
	expr := fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(agentobs_indexer_e2e_latency_seconds_bucket{job=%q}[1m]))) > 1`, job)
	harness.Eventually(t, 90*time.Second, func() (bool, string) {
		n, err := promExemplars(expr)
		return n > 0, fmt.Sprintf("exemplars in Prometheus for the test indexer: %d %v", n, err)
	})
	alert := fmt.Sprintf(`{"version":"4","status":"firing","receiver":"ui-test","alerts":[{"status":"firing",
		"labels":{"alertname":"AgentErrors","severity":"page","service":"llm-gateway"},"annotations":{"summary":"<b>errors</b> in llm-gateway"},
		"startsAt":%q,"fingerprint":"ui1"},{"status":"firing","labels":{"alertname":"IngestSlow","severity":"ticket","service":"indexer"},
		"annotations":{"summary":"slow ingest"},"startsAt":%q,"generatorURL":%q,"fingerprint":"ui2"}]}`, t0.Format(time.RFC3339Nano),
		t0.Format(time.RFC3339Nano), harness.PrometheusURL()+"/graph?g0.expr="+url.QueryEscape(expr)+"&g0.tab=1")
	res, err := http.Post(base+"/v1/alerts", "application/json", strings.NewReader(alert))
	if err != nil || res.StatusCode/100 != 2 {
		t.Fatalf("post alert: %v %v", err, res)
	}
	res.Body.Close()
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		br.run("open alerts", chromedp.Navigate(base+"/ui/alerts"), chromedp.WaitVisible(chromedp.CSS("h1")))
		n := br.count("#alerts tr.alert")
		return n == 2, fmt.Sprintf("%d alerts shown", n)
	})
	const agentErrors, ingestSlow = `#alerts tr[data-alert="AgentErrors"]`, `#alerts tr[data-alert="IngestSlow"]`
	if got := br.text(agentErrors+" .name") + "/" + br.text(agentErrors+" .status"); got != "AgentErrors/firing" {
		t.Errorf("alert row %q", got)
	}
	if n := br.count(agentErrors + " a.trace-link, #alerts b"); n != 1 {
		t.Errorf("alert row has %d trace links (or markup from data) want 1", n)
	}
	if n := br.count(agentErrors + " td.exemplars"); n != 0 {
		t.Errorf("an alert without an expression shows exemplars")
	}
	exemplars := get(br, "exemplar links", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('`+ingestSlow+` td.exemplars a.trace-link')).map(a => a.textContent)`))
	if len(exemplars) == 0 {
		t.Errorf("no exemplar trace links on the alert with an expression: %s", br.text(ingestSlow))
	}
	for _, id := range exemplars {
		if id != tid && id != other {
			t.Errorf("exemplar trace %q is none of this test's traces", id)
		}
	}
	br.screenshot("ui-alerts")
	br.noErrors("alerts")
	if len(exemplars) > 0 {
		br.run("click exemplar", chromedp.Click(chromedp.CSS(ingestSlow+" td.exemplars a.trace-link")), chromedp.WaitVisible(chromedp.CSS("#trace-id")))
		if got := br.text("#trace-id"); got != exemplars[0] {
			t.Errorf("exemplar link opened trace %q want %q", got, exemplars[0])
		}
		br.run("back to alerts", chromedp.Navigate(base+"/ui/alerts"), chromedp.WaitVisible(chromedp.CSS("#alerts")))
	}

	// One click from the alert to the trace.
	br.run("click alert's trace", chromedp.Click(chromedp.CSS(agentErrors+" a.trace-link")), chromedp.WaitVisible(chromedp.CSS("#trace-id")))
	if got := br.text("#trace-id"); got != tid {
		t.Fatalf("trace page for %q want %q", got, tid)
	}
	if got, want := br.text("#record-count")+"/"+br.text("#error-count")+"/"+br.text("#worst"), "12/2/error"; got != want {
		t.Errorf("trace header %s want %s", got, want)
	}
	if n := br.count("li.rec"); n != 12 {
		t.Errorf("trace shows %d records want 12", n)
	}
	if n := br.count("li.rec.err"); n != 2 {
		t.Errorf("trace highlights %d errors want 2", n)
	}
	order := get(br, "record order", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("li.rec table.fields tr")).filter(r => r.cells[0].textContent === "seq").map(r => r.cells[1].textContent)`))
	for i, s := range order {
		if s != fmt.Sprint(i) {
			t.Errorf("record %d on the page has seq %s: not in time order", i, s)
			break
		}
	}
	if len(order) != 12 {
		t.Errorf("seq fields shown: %d want 12", len(order))
	}

	// Hostile record: nothing ran, no element came from data, text shown as text.
	pwned := get(br, "pwned", chromedp.Evaluate[bool](`window.__pwned !== undefined`))
	if pwned {
		t.Error("a script from a record ran")
	}
	if n := br.count("section.trace script, section.trace img, section.trace iframe, section.trace b"); n != 0 {
		t.Errorf("%d elements from record data in the page", n)
	}
	hostile := br.text("#r3 .msg")
	if !strings.Contains(hostile, "<script>window.__pwned=1</script>") || strings.Contains(hostile, "\x1b") ||
		strings.Contains(hostile, "\u202E") || !strings.Contains(hostile, `\u202e`) {
		t.Errorf("hostile message not shown inert: %q", hostile)
	}
	if n := br.count("#r7 a.showall"); n != 1 {
		t.Errorf("the 200 kB message has %d show-all links", n)
	}
	if cut := br.text("#r7 .msg"); len(cut) > 5000 {
		t.Errorf("the 200 kB message is shown with %d bytes before show all", len(cut))
	}
	br.noErrors("trace")

	checkWaterfall(t, br, tid)
	br.noErrors("waterfall")

	// First error: the jump opens the first error record (seq 5).
	br.run("jump to first error", chromedp.Click(chromedp.CSS("#jump-error")), chromedp.WaitVisible(chromedp.CSS("li.first-error.selected table.fields")))
	if id := br.text("li.first-error .svc"); id != services[5%3] {
		t.Errorf("first error is in %q want %q", id, services[5%3])
	}
	br.screenshot("ui-trace")

	// Show all: the whole big message.
	br.run("show all", chromedp.Click(chromedp.CSS("#r7 a.showall")), chromedp.WaitVisible(chromedp.CSS("#r7.selected")))
	full := get(br, "full length", chromedp.Evaluate[int](`document.querySelector("#r7 .msg").textContent.length`))
	if full != len(recs[7].Message) {
		t.Errorf("show all gives %d bytes want %d", full, len(recs[7].Message))
	}

	// A trace without spans keeps the timeline across services.
	br.run("open logs-only trace", chromedp.Navigate(base+"/ui/traces/"+other), chromedp.WaitVisible(chromedp.CSS("#trace-id")))
	if n, w := br.count("li.rec"), br.count("#waterfall"); n != 3 || w != 0 {
		t.Errorf("logs-only trace: %d records, %d waterfalls want 3, 0", n, w)
	}
	br.noErrors("logs-only trace")

	// Log line → session.
	br.run("open record", chromedp.Navigate(base+"/ui/traces/"+tid+"#r5"), chromedp.WaitVisible(chromedp.CSS("#r5 a.to-session")))
	br.run("click session", chromedp.Click(chromedp.CSS("#r5 a.to-session")), chromedp.WaitVisible(chromedp.CSS("#session-id")))
	if got := br.text("#trace-count"); got != "2" {
		t.Errorf("session traces %q want 2", got)
	}
	steps := get(br, "steps", chromedp.Evaluate[[][]string](`Array.from(document.querySelectorAll("#steps tr.step")).map(r => Array.from(r.cells).map(c => c.textContent))`))
	if len(steps) != 2 || steps[0][1] != tid || steps[1][1] != other || steps[0][6] != "400 / 40" ||
		steps[0][7] != "web_search" || steps[0][9] != "failure" || steps[1][9] != "success" {
		t.Errorf("session steps wrong: %q", steps)
	}
	br.screenshot("ui-session")
	br.noErrors("session")

	// Pipeline health: lag per partition, dead letters by reason with the
	// newest, the periodic audit's last result, coverage per service.
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		br.run("open health", chromedp.Navigate(base+"/ui/health"), chromedp.WaitVisible(chromedp.CSS("#coverage")))
		lag, spanLag, indexed := br.textOr("#lag-total"), br.textOr("#lag-spans-total"), br.textOr("#audit-indexed")
		return lag == "0" && spanLag == "0" && indexed == "12", fmt.Sprintf("lag %q, span lag %q, audit indexed %q", lag, spanLag, indexed)
	})
	// The span pipeline's lag has its own table (its topic has 1 partition).
	if n, m := br.count("#lag tr.part"), br.count("#lag-spans tr.part"); n != 2 || m != 1 {
		t.Errorf("lag rows %d and span lag rows %d want 2 and 1 (partitions)", n, m)
	}
	if got := br.text("#dlq-total"); got != "2" {
		t.Errorf("dead letters %q want 2", got)
	}
	reasons := get(br, "reasons", chromedp.Evaluate[[][]string](`Array.from(document.querySelectorAll("#dlq-reasons tr.reason")).map(r => Array.from(r.cells).map(c => c.textContent))`))
	if len(reasons) != 1 || reasons[0][0] != "invalid_json" || reasons[0][1] != "2" {
		t.Errorf("dead letters by reason %q want [[invalid_json 2]]", reasons)
	}
	if n, m := br.count("#dlq-newest tr.dead"), br.count("#dlq-newest b"); n != 2 || m != 0 {
		t.Errorf("newest dead letters: %d rows want 2, %d elements from data want 0", n, m)
	}
	if got := br.text("#audit-producers") + "/" + br.text("#audit-indexed") + "/" + br.text("#audit-missing"); got != "1/12/1" {
		t.Errorf("audit producers/indexed/missing %s want 1/12/1", got)
	}
	if got := br.text("#audit-missing-producers td.missing"); got != "1" {
		t.Errorf("producer with a missing record: %q", got)
	}
	cov := get(br, "coverage", chromedp.Evaluate[[][]string](`Array.from(document.querySelectorAll("#coverage tr.cov")).map(r => Array.from(r.cells).map(c => c.textContent))`))
	want := map[string]string{"planner": "8/1", "tool-runner": "4/0", "llm-gateway": "4/0"}
	for _, row := range cov {
		if want[row[0]] != row[1]+"/"+row[2] {
			t.Errorf("coverage of %s: %s/%s want %s", row[0], row[1], row[2], want[row[0]])
		}
		delete(want, row[0])
	}
	if len(want) != 0 {
		t.Errorf("coverage misses %v (rows %q)", want, cov)
	}
	if n := br.count("#coverage tr.cov.err"); n != 1 {
		t.Errorf("%d services highlighted for missing trace ids want 1", n)
	}
	br.screenshot("ui-health")
	br.noErrors("health")

	// Unknown ids and bad input are pages with a status, not crashes.
	for path, want := range map[string]string{"/ui/traces/" + traceID(999): "404", "/ui/?range=banana": "400"} {
		br.run("open "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("#error-message")))
		if got := br.text("h1"); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q want %s", path, got, want)
		}
	}
	// The browser logs 4xx page loads as errors; those are expected here.
	br.mu.Lock()
	br.errs = nil
	br.mu.Unlock()
}

// promExemplars counts the exemplars the local Prometheus holds for expr
// over the last 10 minutes.
func promExemplars(expr string) (int, error) {
	q := url.Values{"query": {expr}, "start": {fmt.Sprint(time.Now().Add(-10 * time.Minute).Unix())}, "end": {fmt.Sprint(time.Now().Unix())}}
	res, err := http.Get(harness.PrometheusURL() + "/api/v1/query_exemplars?" + q.Encode())
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var out struct {
		Data []struct {
			Exemplars []any `json:"exemplars"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return 0, err
	}
	n := 0
	for _, d := range out.Data {
		n += len(d.Exemplars)
	}
	return n, nil
}

// uiSpans are the OTLP spans of the browser test's trace, through the same
// conversion as the shipper's OTLP receiver. Span k (1..11) is the span of
// record k-1; span 1 is the root; 13 has no record; record 11 names span 12,
// which is never stored (an unplaced record). The tree, depth first:
//
//	1 ─ 2 ─ 3
//	  ─ 4 ─ 13
//	      ─ 5 ─ 6 (error)
//	  ─ 7 ─ 8 ─ 9
//	  ─ 10 (error) ─ 11        critical path: 1, 10, 11 (10 ends last of 1's children)
func uiSpans(topic, tid string, t0 time.Time, services []string) []kafka.Message {
	tb, _ := hex.DecodeString(tid)
	id := func(k int) []byte { b, _ := hex.DecodeString(fmt.Sprintf("%016x", k)); return b }
	parent := func(k int) int {
		switch {
		case k == 1:
			return 0
		case k == 13:
			return 4
		case (k-1)%3 == 0 || k == 2:
			return 1
		}
		return k - 1
	}
	var out []kafka.Message
	for _, k := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13} {
		start, end := t0.Add(time.Duration(k-1)*40*time.Millisecond-2*time.Millisecond), time.Duration(20*time.Millisecond)
		svc, name := services[(k-1)%3], fmt.Sprintf("step-%d", k)
		switch k {
		case 1:
			start, end, name = t0.Add(-5*time.Millisecond), 605*time.Millisecond, "agent.loop"
		case 13:
			start, end, svc, name = t0.Add(130*time.Millisecond), 420*time.Millisecond, "llm-gateway", "llm.call"
		}
		sp := &tracepb.Span{TraceId: tb, SpanId: id(k), Name: name, Kind: tracepb.Span_SPAN_KIND_INTERNAL,
			StartTimeUnixNano: uint64(start.UnixNano()), EndTimeUnixNano: uint64(start.Add(end).UnixNano())}
		if p := parent(k); p > 0 {
			sp.ParentSpanId = id(p)
		}
		if k == 6 || k == 10 {
			sp.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "tool failed"}
		}
		res := &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name",
			Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: svc}}}}}
		r := &record.Record{}
		if err := record.FromOTLPSpan(res, nil, sp, "unknown", r); err != nil {
			panic(err)
		}
		r.EventID = publish.SpanEventID(r.TraceID, r.SpanID)
		out = append(out, publish.RecordMessage(topic, r, r.AppendJSON(nil)))
	}
	return out
}

// checkWaterfall asserts the span waterfall of uiSpans' trace: order and
// nesting, error and critical-path highlights, each record under its span,
// the unplaced record, and a click on a span opening its fields.
func checkWaterfall(t *testing.T, br *browser, tid string) {
	t.Helper()
	sid := func(k int) string { return fmt.Sprintf("%016x", k) }
	type spanView struct {
		ID, Class string
		Records   []string
	}
	spans := get(br, "spans", chromedp.Evaluate[[]spanView](`Array.from(document.querySelectorAll("#waterfall li.span")).map(s => ({
		ID: s.dataset.span, Class: s.className,
		Records: Array.from(s.querySelectorAll("li.rec table.fields tr")).filter(r => r.cells[0].textContent === "seq").map(r => r.cells[1].textContent)}))`))
	want := []struct {
		k, depth  int
		records   string
		err, crit bool
	}{{1, 0, "0", false, true}, {2, 1, "1", false, false}, {3, 2, "2", false, false}, {4, 1, "3", false, false},
		{13, 2, "", false, false}, {5, 2, "4", false, false}, {6, 3, "5", true, false}, {7, 1, "6", false, false},
		{8, 2, "7", false, false}, {9, 3, "8", false, false}, {10, 1, "9", true, true}, {11, 2, "10", false, true}}
	if len(spans) != len(want) {
		t.Fatalf("waterfall has %d spans want %d: %+v", len(spans), len(want), spans)
	}
	for i, w := range want {
		s := spans[i]
		cls := " " + s.Class + " "
		if s.ID != sid(w.k) || !strings.Contains(cls, fmt.Sprintf(" d-%d ", w.depth)) || strings.Contains(cls, " err ") != w.err ||
			strings.Contains(cls, " crit ") != w.crit || strings.Join(s.Records, ",") != w.records {
			t.Errorf("span %d: %+v want span %s depth %d records %q error %v critical %v", i, s, sid(w.k), w.depth, w.records, w.err, w.crit)
		}
	}
	if got := br.text("#span-count") + "/" + br.text("#span-errors") + "/" + br.text("#critical-count"); got != "12/2/3" {
		t.Errorf("waterfall header spans/errors/critical %s want 12/2/3", got)
	}
	if n := br.count("li.rec"); n != 12 {
		t.Errorf("%d records on the waterfall page want 12 (11 under spans, 1 unplaced)", n)
	}
	if n := br.count("#waterfall li.rec"); n != 11 {
		t.Errorf("%d records under spans want 11", n)
	}
	// Bars: the root spans the whole axis, every bar is on it, services coloured.
	bars := get(br, "bars", chromedp.Evaluate[[][]float64](`Array.from(document.querySelectorAll("#waterfall .sbar rect.bar")).map(r => [r.x.baseVal.value, r.width.baseVal.value])`))
	if len(bars) != 12 || bars[0][0] > 1 || bars[0][1] < 990 {
		t.Errorf("bars %v: want 12, the root from 0 across the axis", bars)
	}
	for i, b := range bars {
		if b[0] < 0 || b[0]+b[1] > 1000.5 || b[1] < 2 {
			t.Errorf("bar %d off the axis: %v", i, b)
		}
	}
	if fill := get(br, "error fill", chromedp.Evaluate[string](`getComputedStyle(document.querySelector("#s-`+sid(6)+` rect.bar")).fill`)); fill != "rgb(221, 51, 51)" {
		t.Errorf("error span bar fill %q want red", fill)
	}
	if n := br.count("#s-" + sid(6) + " .span-fields"); n != 1 || get(br, "closed", chromedp.Evaluate[bool](`document.querySelector("#s-`+sid(6)+` > details").open`)) {
		t.Fatalf("span 6's fields should exist and start closed")
	}
	// Click a span: its fields open.
	br.run("click span", chromedp.Click(chromedp.CSS("#s-"+sid(6)+" > details > summary")), chromedp.WaitVisible(chromedp.CSS("#s-"+sid(6)+" .span-fields")))
	fields := get(br, "span fields", chromedp.Evaluate[map[string]string](`Object.fromEntries(Array.from(document.querySelectorAll("#s-`+sid(6)+` .span-fields tr")).map(r => [r.cells[0].textContent, r.cells[1].textContent]))`))
	if fields["span.id"] != sid(6) || fields["parent.id"] != sid(5) || fields["span.status.code"] != "error" ||
		fields["span.status.message"] != "tool failed" || fields["service.name"] != "llm-gateway" || fields["log records"] != "1" || fields["duration"] != "20.0ms" {
		t.Errorf("span 6 fields: %v", fields)
	}
	br.screenshot("ui-waterfall")
	_ = tid
}

// With -http.token the explorer asks for it: a page without it redirects to
// the login form, a wrong token is refused, the right one sets a cookie that
// opens the pages; every answer carries the CSP.
func TestExplorerToken(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.cfg
	cfg.HTTPToken = "s3cret"
	a, _ := e.start(cfg)
	base := "http://" + a.Addr()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := cl.Get(base + "/ui/alerts")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/ui/login?next=") {
		t.Fatalf("no token: %s → %q, want a redirect to the login", res.Status, res.Header.Get("Location"))
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	for tok, want := range map[string]int{"wrong": http.StatusUnauthorized, "s3cret": http.StatusSeeOther} {
		res, err := cl.PostForm(base+"/ui/login", url.Values{"token": {tok}, "next": {"/ui/alerts"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("login with %q: %s want %d", tok, res.Status, want)
		}
	}
	res, err = cl.Get(base + "/ui/alerts")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("with the cookie: %s want 200", res.Status)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/ui/health", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("with the bearer token: %s want 200", res.Status)
	}
}

// The health page lists each front door's newest searchable canary and its
// age, from the indexer's canary prober, for a canary record written
// through Kafka and this indexer.
func TestExplorerHealthCanary(t *testing.T) {
	e := newEnv(t, 1)
	e.cfg.Canary.Interval = 200 * time.Millisecond
	a, _ := e.start(e.cfg)
	r := rec(1, traceID(41), "shipper", time.Now().UTC(), record.LevelInfo)
	r.Fields[record.FieldCanary] = "ui-test/shipper/<b>x</b>"
	e.produce([]*record.Record{r})
	var page string
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		res, err := http.Get("http://" + a.Addr() + "/ui/health")
		if err != nil {
			return false, err.Error()
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		page = string(b)
		return strings.Contains(page, `<td class="canary-source">ui-test/shipper/&lt;b&gt;x&lt;/b&gt;</td>`), "canary not listed yet"
	})
	if strings.Contains(page, `id="canaries-none"`) || strings.Count(page, `<tr class="canary`) != 1 {
		t.Errorf("health page canaries: want exactly one row")
	}
}

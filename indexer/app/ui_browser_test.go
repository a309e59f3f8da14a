package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/chromedp/chromedp"
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
	a, _ := e.start(e.cfg)
	base := "http://" + a.Addr()

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
	var sum struct {
		Summary *struct {
			RecordCount int `json:"record_count"`
		} `json:"summary"`
	}
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		code := e.get(a, "/v1/traces/"+tid, &sum)
		return code == 200 && sum.Summary != nil && sum.Summary.RecordCount == 12, fmt.Sprintf("status %d %+v", code, sum.Summary)
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

	// Pipeline health: correlation coverage per service.
	br.run("open health", chromedp.Navigate(base+"/ui/health"), chromedp.WaitVisible(chromedp.CSS("#coverage")))
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

	// An alert from Alertmanager on the service, through the real webhook.
	alert := fmt.Sprintf(`{"version":"4","status":"firing","receiver":"ui-test","alerts":[{"status":"firing",
		"labels":{"alertname":"AgentErrors","severity":"page","service":"llm-gateway"},"annotations":{"summary":"<b>errors</b> in llm-gateway"},
		"startsAt":%q,"fingerprint":"ui1"}]}`, t0.Format(time.RFC3339Nano))
	res, err := http.Post(base+"/v1/alerts", "application/json", strings.NewReader(alert))
	if err != nil || res.StatusCode/100 != 2 {
		t.Fatalf("post alert: %v %v", err, res)
	}
	res.Body.Close()
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		br.run("open alerts", chromedp.Navigate(base+"/ui/alerts"), chromedp.WaitVisible(chromedp.CSS("h1")))
		n := br.count("#alerts tr.alert")
		return n == 1, fmt.Sprintf("%d alerts shown", n)
	})
	if got := br.text("#alerts tr.alert .name") + "/" + br.text("#alerts tr.alert .status"); got != "AgentErrors/firing" {
		t.Errorf("alert row %q", got)
	}
	if n := br.count("#alerts a.trace-link, #alerts b"); n != 1 {
		t.Errorf("alert row has %d trace links (or markup from data) want 1", n)
	}
	br.screenshot("ui-alerts")
	br.noErrors("alerts")

	// One click from the alert to the trace.
	br.run("click alert's trace", chromedp.Click(chromedp.CSS(`#alerts a.trace-link`)), chromedp.WaitVisible(chromedp.CSS("#trace-id")))
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
	if n := br.count("#records script, #records img, #records iframe, #records b"); n != 0 {
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

// Package ui is the trace explorer: a read-only web UI served by the indexer
// under /ui/. Pages are rendered on the server with html/template (so every
// value from a record is contextually escaped) from the lookups of
// indexer/trace; the little JavaScript there is is a static file, and the
// Content-Security-Policy forbids inline scripts, styles and handlers.
package ui

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agentobs/agentobs/indexer/trace"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
)

//go:embed assets
var assets embed.FS

// CSP is the Content-Security-Policy of every page: only this origin's
// script and stylesheet files, no inline code, no framing.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Lookup is what the pages read (trace.Store implements it).
type Lookup interface {
	trace.Lookup
	Search(ctx context.Context, q trace.SearchQuery) (*trace.SearchResult, error)
	Alerts(ctx context.Context, since time.Time, limit int) ([]trace.Alert, error)
	Coverage(ctx context.Context, since time.Time) ([]trace.Coverage, error)
}

// Config are the explorer's settings.
type Config struct {
	// Token, when set, is required: as "Authorization: Bearer" (like the
	// lookup API) or as the cookie the /ui/login form sets.
	Token string
	// KibanaURL and GrafanaURL, when set, add "open in" links to a trace
	// (Kibana Discover filtered on trace.id; Grafana Explore).
	KibanaURL  string
	GrafanaURL string
	// PrometheusURL, when set, is asked for exemplar trace ids of an
	// alert's expression (/api/v1/query_exemplars) on the Alerts page.
	PrometheusURL string
	// MessageLimit cuts messages and field values longer than this many
	// bytes, with a "show all" link (default 4096).
	MessageLimit int
}

// Handler serves the explorer.
type Handler struct {
	cfg   Config
	l     Lookup
	log   *slog.Logger
	tpl   *template.Template
	mux   *http.ServeMux
	pages *prometheus.CounterVec
	pipe  Pipeline
	prom  promv1.API // nil: no exemplars
}

// Pages are the page label values of agentobs_indexer_ui_requests_total.
var Pages = []string{"search", "trace", "session", "alerts", "health", "login", "static", "other"}

// Outcomes are its outcome label values.
var Outcomes = []string{"ok", "bad_request", "not_found", "unauthorized", "error"}

// New builds the handler over the lookups l and the pipeline's own state p
// (nil: the health page shows correlation coverage only); reg gets
// agentobs_indexer_ui_requests_total.
func New(cfg Config, l Lookup, p Pipeline, reg prometheus.Registerer, log *slog.Logger) (*Handler, error) {
	if cfg.MessageLimit <= 0 {
		cfg.MessageLimit = 4096
	}
	for _, u := range []string{cfg.KibanaURL, cfg.GrafanaURL, cfg.PrometheusURL} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") {
			return nil, fmt.Errorf("ui: base URL %q: want http(s)://…", u)
		}
	}
	prom, err := newPrometheus(cfg.PrometheusURL)
	if err != nil {
		return nil, err
	}
	tpl, err := template.New("").Funcs(funcs(cfg)).ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("ui: templates: %w", err)
	}
	h := &Handler{cfg: cfg, l: l, pipe: p, prom: prom, log: log, tpl: tpl, mux: http.NewServeMux(),
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agentobs_indexer_ui_requests_total",
			Help: "Trace explorer page requests by page and outcome."}, []string{"page", "outcome"})}
	for _, p := range Pages {
		for _, o := range Outcomes {
			h.pages.WithLabelValues(p, o)
		}
	}
	if reg != nil {
		if err := reg.Register(h.pages); err != nil {
			return nil, fmt.Errorf("ui: metrics: %w", err)
		}
	}
	static, _ := fs.Sub(assets, "assets")
	h.mux.Handle("GET /ui/static/", h.count("static", http.StripPrefix("/ui/static/", http.FileServerFS(static))))
	h.mux.HandleFunc("GET /ui/login", h.login)
	h.mux.HandleFunc("POST /ui/login", h.login)
	h.mux.Handle("GET /ui/{$}", h.auth(h.search))
	h.mux.Handle("GET /ui/traces/{id}", h.auth(h.trace))
	h.mux.Handle("GET /ui/sessions/{id}", h.auth(h.session))
	h.mux.Handle("GET /ui/alerts", h.auth(h.alerts))
	h.mux.Handle("GET /ui/health", h.auth(h.health))
	h.mux.Handle("/ui/", h.count("other", http.NotFoundHandler()))
	return h, nil
}

// Mount adds the explorer's routes (/ui and everything under /ui/) to mux.
func (h *Handler) Mount(mux trace.Mux) {
	mux.Handle("/ui/", h)
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusFound))
}

// ServeHTTP sets the security headers and routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

const cookieName = "agentobs_ui_token"

// status records the status code for the request counter.
type status struct {
	http.ResponseWriter
	code int
}

func (s *status) WriteHeader(c int) {
	if s.code == 0 {
		s.code = c
	}
	s.ResponseWriter.WriteHeader(c)
}

func (h *Handler) count(page string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &status{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		h.pages.WithLabelValues(page, outcome(sw.code)).Inc()
	})
}

func outcome(code int) string {
	switch {
	case code == 0 || code < 400:
		return "ok"
	case code == http.StatusUnauthorized:
		return "unauthorized"
	case code == http.StatusNotFound:
		return "not_found"
	case code < 500:
		return "bad_request"
	}
	return "error"
}

type page func(w http.ResponseWriter, r *http.Request) (string, error)

// auth checks the token (header or cookie), runs the page and renders
// errors as pages with the right status.
func (h *Handler) auth(p page) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &status{ResponseWriter: w}
		name := "other"
		defer func() { h.pages.WithLabelValues(name, outcome(sw.code)).Inc() }()
		if !h.authorized(r) {
			name = "login"
			http.Redirect(sw, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			sw.code = http.StatusUnauthorized // counted as refused; the browser follows the redirect
			return
		}
		n, err := p(sw, r)
		name = n
		if err != nil {
			h.fail(sw, err)
		}
	})
}

func (h *Handler) authorized(r *http.Request) bool {
	if h.cfg.Token == "" {
		return true
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+h.cfg.Token)) == 1 {
		return true
	}
	c, err := r.Cookie(cookieName)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(h.cfg.Token)) == 1
}

// badRequest is an error shown to the user with status 400.
type badRequest struct{ reason string }

func (b badRequest) Error() string { return b.reason }

func (h *Handler) fail(w http.ResponseWriter, err error) {
	code, msg := http.StatusBadGateway, "Elasticsearch did not answer the lookup: "+err.Error()
	var br badRequest
	switch {
	case errors.As(err, &br):
		code, msg = http.StatusBadRequest, br.reason
	case errors.Is(err, trace.ErrNotFound):
		code, msg = http.StatusNotFound, "Nothing indexed under this id (yet): records may still be in Kafka, or the id is wrong."
	default:
		h.log.Warn("ui lookup failed", "err", err)
	}
	w.WriteHeader(code)
	h.render(w, "error.html", map[string]any{"Title": http.StatusText(code), "Code": code, "Message": msg})
}

func (h *Handler) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := h.tpl.ExecuteTemplate(w, name, data); err != nil {
		h.log.Error("ui render failed", "template", name, "err", err)
	}
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	sw := &status{ResponseWriter: w}
	defer func() { h.pages.WithLabelValues("login", outcome(sw.code)).Inc() }()
	next := r.FormValue("next")
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") {
		next = "/ui/"
	}
	data := map[string]any{"Title": "Sign in", "Next": next}
	if r.Method == http.MethodPost {
		if h.cfg.Token == "" || subtle.ConstantTimeCompare([]byte(r.PostFormValue("token")), []byte(h.cfg.Token)) == 1 {
			http.SetCookie(sw, &http.Cookie{Name: cookieName, Value: r.PostFormValue("token"), Path: "/ui/",
				HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			http.Redirect(sw, r, next, http.StatusSeeOther)
			return
		}
		sw.WriteHeader(http.StatusUnauthorized)
		data["Wrong"] = true
	}
	h.render(sw, "login.html", data)
}

// ---- Search ----

var ranges = []string{"15m", "1h", "6h", "24h", "168h"}

func (h *Handler) search(w http.ResponseWriter, r *http.Request) (string, error) {
	q := r.URL.Query()
	// A trace or session id goes straight to its page.
	if id := strings.TrimSpace(q.Get("trace")); id != "" {
		http.Redirect(w, r, "/ui/traces/"+url.PathEscape(id), http.StatusFound)
		return "search", nil
	}
	if id := strings.TrimSpace(q.Get("session")); id != "" {
		http.Redirect(w, r, "/ui/sessions/"+url.PathEscape(id), http.StatusFound)
		return "search", nil
	}
	sq := trace.SearchQuery{Service: q.Get("service"), Level: q.Get("level"), Version: q.Get("version"), Text: q.Get("q")}
	rng := q.Get("range")
	if rng == "" {
		rng = "1h"
	}
	d, err := time.ParseDuration(rng)
	if err != nil || d <= 0 {
		return "search", badRequest{"range: want a duration like 15m or 24h"}
	}
	sq.To = time.Now()
	if s := q.Get("to"); s != "" {
		if sq.To, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return "search", badRequest{"to: want an RFC 3339 time"}
		}
	}
	sq.From = sq.To.Add(-d)
	if s := q.Get("offset"); s != "" {
		if sq.Offset, err = strconv.Atoi(s); err != nil || sq.Offset < 0 {
			return "search", badRequest{"offset: want a non-negative number"}
		}
	}
	sq.Size = 50
	res, err := h.l.Search(r.Context(), sq)
	if err != nil {
		return "search", err
	}
	rows := make([]row, 0, len(res.Records))
	for i, raw := range res.Records {
		rows = append(rows, h.row(i, raw, time.Time{}, 0))
	}
	lq := trace.ListQuery{Service: sq.Service, Version: sq.Version, Errors: true, Since: sq.From, Limit: 20}
	failing, err := h.l.List(r.Context(), lq)
	if err != nil {
		return "search", err
	}
	page := func(off int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("offset", strconv.Itoa(off))
		v.Set("to", sq.To.UTC().Format(time.RFC3339Nano))
		return "/ui/?" + v.Encode()
	}
	data := map[string]any{
		"Title": "Search", "Q": sq, "Range": rng, "Ranges": ranges, "Levels": []string{"trace", "debug", "info", "warn", "error", "fatal"},
		"Total": res.Total, "Rows": rows, "Hist": histogram(res.Histogram), "Interval": res.Interval,
		"From": sq.Offset + 1, "Until": sq.Offset + len(rows), "Failing": failing,
	}
	if sq.Offset > 0 {
		data["Prev"] = page(max(0, sq.Offset-sq.Size))
	}
	if int64(sq.Offset+len(rows)) < res.Total && sq.Offset+2*sq.Size <= trace.SearchMaxWindow {
		data["Next"] = page(sq.Offset + sq.Size)
	}
	h.render(w, "search.html", data)
	return "search", nil
}

// bar is one histogram bar in SVG coordinates (viewBox 0 0 1000 100).
type bar struct {
	X, W, H, EH float64
	Label       string
}

func histogram(bs []trace.Bucket) []bar {
	var top int64 = 1
	for _, b := range bs {
		top = max(top, b.Count)
	}
	out := make([]bar, 0, len(bs))
	w := 1000 / float64(max(1, len(bs)))
	for i, b := range bs {
		out = append(out, bar{X: float64(i) * w, W: max(1, w-1), H: 100 * float64(b.Count) / float64(top), EH: 100 * float64(b.Errors) / float64(top),
			Label: fmt.Sprintf("%s: %d records, %d errors", b.Start.Format(time.RFC3339), b.Count, b.Errors)})
	}
	return out
}

// ---- Trace ----

func (h *Handler) trace(w http.ResponseWriter, r *http.Request) (string, error) {
	id := r.PathValue("id")
	size, after := 1000, r.URL.Query().Get("page")
	v, err := h.l.Trace(r.Context(), id, trace.Page{Size: size, After: after})
	if err != nil {
		return "trace", err
	}
	full := r.URL.Query().Get("full")
	t := timeline(v, full, h)
	data := map[string]any{"Title": "Trace " + id, "ID": id, "View": v, "Sum": v.Summary, "T": t,
		"Kibana": h.kibana(id), "Grafana": h.grafana(id)}
	if v.NextPage != "" {
		data["Next"] = "/ui/traces/" + url.PathEscape(id) + "?page=" + url.QueryEscape(v.NextPage)
	}
	if after != "" {
		data["First"] = "/ui/traces/" + url.PathEscape(id)
	}
	h.render(w, "trace.html", data)
	return "trace", nil
}

func (h *Handler) kibana(id string) string {
	if h.cfg.KibanaURL == "" {
		return ""
	}
	return strings.TrimRight(h.cfg.KibanaURL, "/") + "/app/discover#/?_a=(query:(language:kuery,query:'trace.id:%22" + url.QueryEscape(id) + "%22'))"
}

func (h *Handler) grafana(id string) string {
	if h.cfg.GrafanaURL == "" {
		return ""
	}
	return strings.TrimRight(h.cfg.GrafanaURL, "/") + "/explore?left=" + url.QueryEscape(`{"queries":[{"query":"trace.id:\"`+id+`\""}]}`)
}

// ---- Session ----

func (h *Handler) session(w http.ResponseWriter, r *http.Request) (string, error) {
	id := r.PathValue("id")
	v, err := h.l.Session(r.Context(), id, trace.Page{Size: trace.MaxPageSize})
	if err != nil {
		return "session", err
	}
	steps := sessionSteps(v)
	h.render(w, "session.html", map[string]any{"Title": "Session " + id, "ID": id, "View": v, "Steps": steps,
		"Partial": v.NextPage != ""})
	return "session", nil
}

// decode is a record's fields; a record that is not an object becomes one
// field "_raw" (shown, never dropped).
func decode(raw json.RawMessage) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return map[string]any{"_raw": string(raw)}
	}
	return m
}

// ---- Alerts ----

// alertRow is an alert and the traces behind it (alertTraces).
type alertRow struct {
	trace.Alert
	Traces    []trace.Summary
	Why       string
	Exemplars bool   // the traces are exemplars from Prometheus
	PromErr   string // Prometheus did not answer the exemplar query
}

func (h *Handler) alerts(w http.ResponseWriter, r *http.Request) (string, error) {
	as, err := h.l.Alerts(r.Context(), time.Now().Add(-24*time.Hour), 100)
	if err != nil {
		return "alerts", err
	}
	rows := make([]alertRow, 0, len(as))
	for _, a := range as {
		rows = append(rows, alertRow{Alert: a})
	}
	if err := h.alertTraces(r.Context(), rows); err != nil {
		return "alerts", err
	}
	h.render(w, "alerts.html", map[string]any{"Title": "Alerts", "Alerts": rows, "Prometheus": h.prom != nil})
	return "alerts", nil
}

// ---- Pipeline health ----

type coverageRow struct {
	trace.Coverage
	Pct string
	Bad bool
}

func (h *Handler) health(w http.ResponseWriter, r *http.Request) (string, error) {
	cov, err := h.l.Coverage(r.Context(), time.Now().Add(-time.Hour))
	if err != nil {
		return "health", err
	}
	rows := make([]coverageRow, 0, len(cov))
	for _, c := range cov {
		p := 100 * float64(c.Records-c.WithoutTrace) / float64(max(1, c.Records))
		rows = append(rows, coverageRow{Coverage: c, Pct: strconv.FormatFloat(p, 'f', 1, 64) + "%", Bad: c.WithoutTrace > 0})
	}
	h.render(w, "health.html", map[string]any{"Title": "Pipeline health", "Coverage": rows, "P": h.pipelineView(r.Context())})
	return "health", nil
}

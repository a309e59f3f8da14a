package trace

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agentobs/agentobs/internal/record"
)

// Client fetches lookups from an indexer's HTTP API (the demo and scripts
// use it; the CLI can also use a Store directly).
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:9400
	Token   string
	HTTP    *http.Client
}

// Trace fetches every page of a trace (all records, in order).
func (c *Client) Trace(ctx context.Context, id string, p Page) (*View, error) {
	return c.all(ctx, "/v1/traces/"+url.PathEscape(id), p)
}

// Session fetches every page of a session.
func (c *Client) Session(ctx context.Context, id string, p Page) (*View, error) {
	return c.all(ctx, "/v1/sessions/"+url.PathEscape(id), p)
}

// List fetches the trace summaries matching q, most recent first
// (GET /v1/traces).
func (c *Client) List(ctx context.Context, q ListQuery) ([]Summary, error) {
	v := url.Values{}
	for k, s := range map[string]string{"service": q.Service, "version": q.Version} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Errors {
		v.Set("errors", "true")
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339))
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	var list struct {
		Traces []Summary `json:"traces"`
	}
	if err := c.get(ctx, "/v1/traces?"+v.Encode(), &list); err != nil {
		return nil, fmt.Errorf("list traces: %w", err)
	}
	return list.Traces, nil
}

func (c *Client) all(ctx context.Context, path string, p Page) (*View, error) {
	var out *View
	for {
		q := url.Values{}
		if p.Size > 0 {
			q.Set("size", fmt.Sprint(p.Size))
		}
		if p.After != "" {
			q.Set("page", p.After)
		}
		var v View
		if err := c.get(ctx, path+"?"+q.Encode(), &v); err != nil {
			return nil, err
		}
		if out == nil {
			out = &v
		} else {
			out.Records = append(out.Records, v.Records...)
		}
		if v.NextPage == "" || len(v.Records) == 0 {
			out.NextPage = ""
			return out, nil
		}
		p.After = v.NextPage
	}
}

func (c *Client) get(ctx context.Context, path string, out any) error {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.BaseURL, "/")+path, nil)
	if err != nil {
		return err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return ErrNotFound
	}
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		return fmt.Errorf("GET %s: %s: %s", path, res.Status, msg)
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// WriteTimeline prints a view as a human timeline: the summary, then one
// line per record (time, service, level, span, message).
func WriteTimeline(w io.Writer, v *View) {
	sums := v.Traces
	if v.Summary != nil {
		sums = append([]Summary{*v.Summary}, sums...)
	}
	for _, s := range sums {
		versions := ""
		if len(s.Versions) > 0 {
			versions = " versions=" + strings.Join(s.Versions, ",")
		}
		spans := ""
		if s.SpanCount > 0 {
			spans = fmt.Sprintf(" spans=%d error_spans=%d root_span=%q", s.SpanCount, s.ErrorSpanCount, s.RootSpan)
		}
		fmt.Fprintf(w, "trace %s  services=%s%s root=%s records=%d errors=%d worst=%s%s  %s → %s (%.1f ms)\n",
			s.TraceID, strings.Join(s.Services, ","), versions, s.RootService, s.RecordCount, s.ErrorCount, s.WorstLevel, spans, s.First, s.Last, s.DurationMS)
	}
	if v.Spans != nil {
		writeSpanTree(w, v.Spans)
	}
	fmt.Fprintf(w, "%s %s: %d records\n", v.Kind, v.ID, v.Total)
	for _, raw := range v.Records {
		var r map[string]any
		_ = json.Unmarshal(raw, &r)
		str := func(k string) string { s, _ := r[k].(string); return s }
		svc := str("service.name")
		if v := str(record.FieldServiceVersion); v != "" {
			svc += "@" + v
		}
		fmt.Fprintf(w, "%-30s %-16s %-5s %-16s %s\n", str("@timestamp"), svc, str("log.level"), str("span.id"), str("message"))
	}
}

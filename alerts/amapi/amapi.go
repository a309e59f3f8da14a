// Package amapi is the small part of the Alertmanager API v2 that operating
// agentobs needs: list the firing alerts with their labels, and put a
// maintenance silence on one component around a rolling update (then expire
// it). It wraps the official generated client from
// github.com/prometheus/alertmanager/api/v2/client; amctl is its command,
// and the end-to-end alert test reads Alertmanager through it.
package amapi

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/client/silence"
	"github.com/prometheus/alertmanager/api/v2/models"
)

// Client talks to one Alertmanager.
type Client struct {
	api *client.AlertmanagerAPI
}

// New returns a client for the Alertmanager at rawURL (e.g.
// http://127.0.0.1:9093, or with a path prefix when served under one).
func New(rawURL string) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("alertmanager url %q: want http(s)://host:port[/prefix]", rawURL)
	}
	cfg := client.DefaultTransportConfig().WithHost(u.Host).WithSchemes([]string{u.Scheme}).
		WithBasePath(strings.TrimSuffix(u.Path, "/") + client.DefaultBasePath)
	return &Client{api: client.NewHTTPClientWithConfig(strfmt.Default, cfg)}, nil
}

// Alert is one alert as Alertmanager holds it.
type Alert struct {
	Name        string
	State       string // active, suppressed (silenced or inhibited), unprocessed
	Labels      map[string]string
	Annotations map[string]string
	StartsAt    time.Time
	Fingerprint string
	SilencedBy  []string
}

// Alerts returns the alerts Alertmanager has not seen resolved, silenced
// and inhibited ones included (State says which), sorted by name then
// labels. filters are matchers such as `component="indexer"`.
func (c *Client) Alerts(ctx context.Context, filters ...string) ([]Alert, error) {
	p := alert.NewGetAlertsParamsWithContext(ctx).WithFilter(filters)
	ok, err := c.api.Alert.GetAlerts(p)
	if err != nil {
		return nil, fmt.Errorf("get alerts: %w", err)
	}
	out := make([]Alert, 0, len(ok.Payload))
	for _, a := range ok.Payload {
		al := Alert{Labels: a.Labels, Annotations: a.Annotations, Name: a.Labels["alertname"]}
		if a.Status != nil && a.Status.State != nil {
			al.State = *a.Status.State
			al.SilencedBy = a.Status.SilencedBy
		}
		if a.StartsAt != nil {
			al.StartsAt = time.Time(*a.StartsAt)
		}
		if a.Fingerprint != nil {
			al.Fingerprint = *a.Fingerprint
		}
		out = append(out, al)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return LabelString(out[i].Labels) < LabelString(out[j].Labels)
	})
	return out, nil
}

// SilenceComponent silences every alert with component=<component> from now
// for d, and returns the silence id.
func (c *Client) SilenceComponent(ctx context.Context, component string, d time.Duration, author, comment string) (string, error) {
	if component == "" || d <= 0 {
		return "", errors.New("silence: component must be set and duration positive")
	}
	if author == "" {
		author = "amctl"
	}
	if comment == "" {
		comment = "maintenance of " + component
	}
	now := time.Now()
	start, end := strfmt.DateTime(now), strfmt.DateTime(now.Add(d))
	name, f, t := "component", false, true
	s := &models.PostableSilence{Silence: models.Silence{
		Matchers:  models.Matchers{{Name: &name, Value: &component, IsRegex: &f, IsEqual: &t}},
		StartsAt:  &start,
		EndsAt:    &end,
		CreatedBy: &author,
		Comment:   &comment,
	}}
	ok, err := c.api.Silence.PostSilences(silence.NewPostSilencesParamsWithContext(ctx).WithSilence(s))
	if err != nil {
		return "", fmt.Errorf("create silence: %w", err)
	}
	return ok.Payload.SilenceID, nil
}

// Expire ends the silence id now.
func (c *Client) Expire(ctx context.Context, id string) error {
	_, err := c.api.Silence.DeleteSilence(silence.NewDeleteSilenceParamsWithContext(ctx).WithSilenceID(strfmt.UUID(id)))
	if err != nil {
		return fmt.Errorf("expire silence %s: %w", id, err)
	}
	return nil
}

// SilenceState returns the state of silence id: active, pending or expired.
func (c *Client) SilenceState(ctx context.Context, id string) (string, error) {
	ok, err := c.api.Silence.GetSilence(silence.NewGetSilenceParamsWithContext(ctx).WithSilenceID(strfmt.UUID(id)))
	if err != nil {
		return "", fmt.Errorf("get silence %s: %w", id, err)
	}
	if ok.Payload.Status == nil || ok.Payload.Status.State == nil {
		return "", nil
	}
	return *ok.Payload.Status.State, nil
}

// LabelString renders labels as {a="1", b="2"}, sorted by name.
func LabelString(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, l[k])
	}
	b.WriteByte('}')
	return b.String()
}

// Package webhook receives Alertmanager webhook notifications (POST
// /v1/alerts, the JSON Alertmanager's webhook_config sends, version 4) and
// indexes every alert as an event in the alert index, so alerts stand on the
// same timeline as the logs: @timestamp is when it started firing (or ended,
// for resolved), trace.id and service.name are lifted from labels or
// annotations when present.
//
// The document id is derived from fingerprint, status and start time, so
// Alertmanager's repeated notifications of one alert state are stored once.
package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/agentobs/agentobs/internal/record"
	"github.com/elastic/go-elasticsearch/v8"
)

// Message is Alertmanager's webhook payload
// (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
type Message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a notification.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Counter counts stored alerts by status.
type Counter interface{ Inc(status string) }

// Receiver stores notifications.
type Receiver struct {
	es    *elasticsearch.Client
	index string
	count Counter
	log   *slog.Logger
}

// NewReceiver returns a receiver writing to index.
func NewReceiver(es *elasticsearch.Client, index string, count Counter, log *slog.Logger) *Receiver {
	return &Receiver{es: es, index: index, count: count, log: log.With("component", "alerts")}
}

// MaxBody bounds a notification.
const MaxBody = 4 << 20

// ServeHTTP implements POST /v1/alerts.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m Message
	if err := json.NewDecoder(io.LimitReader(r.Body, MaxBody)).Decode(&m); err != nil {
		http.Error(w, "invalid Alertmanager webhook JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := rc.Store(r.Context(), m); err != nil {
		rc.log.Warn("storing alerts failed", "err", err)
		// 5xx makes Alertmanager retry the notification.
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func first(maps []map[string]string, keys ...string) string {
	for _, m := range maps {
		for _, k := range keys {
			if v := m[k]; v != "" {
				return v
			}
		}
	}
	return ""
}

// Doc is the stored alert event.
func Doc(m Message, a Alert) (id string, doc map[string]any) {
	status := a.Status
	if status == "" {
		status = m.Status
	}
	ts := a.StartsAt
	if status == "resolved" && !a.EndsAt.IsZero() {
		ts = a.EndsAt
	}
	if ts.IsZero() {
		ts = time.Now()
	}
	fp := a.Fingerprint
	if fp == "" {
		b, _ := json.Marshal(a.Labels)
		sum := sha256.Sum256(b)
		fp = hex.EncodeToString(sum[:8])
	}
	src := []map[string]string{a.Labels, a.Annotations, m.CommonLabels, m.CommonAnnotations}
	msg := first(src, "summary", "description", "message")
	if msg == "" {
		msg = a.Labels["alertname"]
	}
	doc = map[string]any{
		"@timestamp": ts.UTC().Format(time.RFC3339Nano), "message": msg, "status": status,
		"alertname": a.Labels["alertname"], "severity": a.Labels["severity"], "fingerprint": fp,
		"receiver": m.Receiver, "group_key": m.GroupKey, "starts_at": a.StartsAt.UTC().Format(time.RFC3339Nano),
		"generator_url": a.GeneratorURL, "external_url": m.ExternalURL,
		"labels": a.Labels, "annotations": a.Annotations, "event": map[string]any{"kind": "alert"},
	}
	if !a.EndsAt.IsZero() && a.EndsAt.Year() > 1 {
		doc["ends_at"] = a.EndsAt.UTC().Format(time.RFC3339Nano)
	}
	if svc := first(src, "service", "service_name", "service.name", "job"); svc != "" {
		doc["service"] = map[string]any{"name": svc}
	}
	if t := first(src, "trace_id", "trace.id", "traceId", "exemplar_trace_id"); t != "" {
		if norm, ok := record.NormalizeTraceID(t); ok {
			doc["trace"] = map[string]any{"id": norm}
		}
	}
	id = fp + "-" + status + "-" + fmt.Sprint(a.StartsAt.UnixNano())
	doc["event"].(map[string]any)["id"] = id
	return id, doc
}

// Store indexes every alert of m (index op: a repeated notification
// overwrites the same document).
func (rc *Receiver) Store(ctx context.Context, m Message) error {
	if len(m.Alerts) == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	statuses := make([]string, 0, len(m.Alerts))
	for _, a := range m.Alerts {
		id, doc := Doc(m, a)
		fmt.Fprintf(&buf, `{"index":{"_index":%q,"_id":%q}}`+"\n", rc.index, id)
		if err := enc.Encode(doc); err != nil {
			return err
		}
		statuses = append(statuses, doc["status"].(string))
	}
	res, err := rc.es.Bulk(&buf, rc.es.Bulk.WithContext(ctx), rc.es.Bulk.WithFilterPath("errors", "items.*.error"))
	if err != nil {
		return fmt.Errorf("index alerts: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.IsError() {
		return fmt.Errorf("index alerts: %s: %s", res.Status(), body)
	}
	var r struct {
		Errors bool `json:"errors"`
	}
	if json.Unmarshal(body, &r) == nil && r.Errors {
		return fmt.Errorf("index alerts: %s", body)
	}
	for _, s := range statuses {
		rc.count.Inc(s)
	}
	return nil
}

package record

import (
	"fmt"
	"testing"
)

// service.version is found wherever a producer put it and ends up as one
// flat canonical field; a Kubernetes pod label is copied, not moved, and
// Peek reads it back from the encoded record.
func TestServiceVersion(t *testing.T) {
	p := NewParser(ParseOptions{})
	f := func(line, want string, kept ...string) {
		t.Helper()
		var rec Record
		p.Parse([]byte(line), &rec)
		got, _ := rec.Fields[FieldServiceVersion].(string)
		if got != want {
			t.Errorf("%s: service.version = %q, want %q (fields %v)", line, got, want, rec.Fields)
		}
		for _, k := range kept {
			if _, ok := lookupDotted(rec.Fields, k); !ok {
				t.Errorf("%s: %s was consumed, want it kept (fields %v)", line, k, rec.Fields)
			}
		}
		m, err := Peek(rec.AppendJSON(nil))
		if err != nil {
			t.Fatal(err)
		}
		if m.ServiceVersion != want {
			t.Errorf("%s: Peek service.version = %q, want %q", line, m.ServiceVersion, want)
		}
	}
	f(`{"msg":"a","service.version":"1.4.0"}`, "1.4.0")
	f(`{"msg":"a","service":{"name":"planner","version":"2.0.0-rc1"}}`, "2.0.0-rc1")
	f(`{"msg":"a","service_version":"1.4.0","serviceVersion":"9"}`, "1.4.0")
	f(`{"msg":"a","serviceVersion":3}`, "3")
	f(`{"msg":"a","resource":{"service":{"version":"1.1"}}}`, "1.1")
	// OTel log record: the resource attribute.
	f(`{"body":{"stringValue":"hi"},"severityText":"INFO","resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}},{"key":"service.version","value":{"stringValue":"0.9.1"}}]}}`, "0.9.1")
	// Fluent Bit's kubernetes filter: the recommended label wins over a
	// plain version label, and both labels stay on the record.
	f(`{"log":"x","kubernetes":{"pod_name":"p","labels":{"version":"canary","app.kubernetes.io/version":"1.5.0"}}}`, "1.5.0",
		"kubernetes.labels.version", "kubernetes.labels.app.kubernetes.io/version")
	f(`{"log":"x","kubernetes":{"labels":{"version":"canary"}}}`, "canary", "kubernetes.labels.version")
	// The record's own field wins over the pod label.
	f(`{"msg":"a","service.version":"1.4.0","kubernetes":{"labels":{"version":"canary"}}}`, "1.4.0", "kubernetes.labels.version")
	// Not a release: objects, empty and over-long values of the other
	// spellings are left where they are (the canonical key is the
	// producer's own data and is kept as sent).
	f(`{"msg":"a","service":{"version":{"x":1}}}`, "", "service.version.x")
	f(`{"msg":"a","service_version":"  "}`, "", "service_version")
	f(fmt.Sprintf(`{"msg":"a","serviceVersion":"%0300d"}`, 1), "", "serviceVersion")
	// A bare "version" is too ambiguous (API versions, schema versions).
	f(`{"msg":"a","version":"v2"}`, "", "version")
}

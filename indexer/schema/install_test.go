package schema

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/agentobs/agentobs/test/harness"
)

func TestInstallIdempotent(t *testing.T) {
	es := harness.RequireES(t)
	prefix := harness.Index(t)
	n := WithPrefix(prefix)
	t.Cleanup(func() { Uninstall(context.Background(), es, n) })
	ctx := context.Background()
	f, err := Detect(ctx, es)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("modules: %v (data streams %v, ilm %v)", f.Modules, f.DataStreams, f.ILM)
	s := DefaultSettings()
	s.Replicas = 0
	for i := 0; i < 2; i++ {
		if err := Install(ctx, es, n, s, f, Options{Retention: "7d"}, slog.Default()); err != nil {
			t.Fatalf("install %d: %v", i, err)
		}
	}
	// A document in a daily index gets the template: alias and field aliases.
	idx := n.Index(time.Now())
	body := `{"@timestamp":"2024-01-02T03:04:05.123456789Z","trace.id":"0af7651916cd43dd8448eb211c80319c","message":"x"}`
	if err := do(ctx, es, http.MethodPut, "/"+idx+"/_create/1?refresh=true", rawJSON(body), nil); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Hits struct {
			Total struct{ Value int } `json:"total"`
		} `json:"hits"`
	}
	q := map[string]any{"query": map[string]any{"term": map[string]any{"trace_id": "0af7651916cd43dd8448eb211c80319c"}}}
	if err := do(ctx, es, http.MethodPost, "/"+n.Alias+"/_search", q, &res); err != nil {
		t.Fatal(err)
	}
	if res.Hits.Total.Value != 1 {
		t.Fatalf("trace_id alias search through %s found %d", n.Alias, res.Hits.Total.Value)
	}
}

type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

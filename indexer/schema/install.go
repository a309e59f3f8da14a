package schema

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"

	"github.com/agentobs/agentobs/internal/esclient"
	"github.com/elastic/go-elasticsearch/v8"
)

// Features are the optional cluster features the indexer can use.
type Features struct {
	Modules     []string
	DataStreams bool // the data-streams module
	ILM         bool // the x-pack-ilm module
}

// Detect reads the module list of every node (GET _nodes/plugins); a
// feature counts only when every node has it.
func Detect(ctx context.Context, es *elasticsearch.Client) (Features, error) {
	var f Features
	var body struct {
		Nodes map[string]struct {
			Modules []struct {
				Name string `json:"name"`
			} `json:"modules"`
		} `json:"nodes"`
	}
	if err := do(ctx, es, http.MethodGet, "/_nodes/plugins?filter_path=nodes.*.modules.name", nil, &body); err != nil {
		return f, err
	}
	count := map[string]int{}
	for _, n := range body.Nodes {
		for _, m := range n.Modules {
			count[m.Name]++
		}
	}
	for m, c := range count {
		if c == len(body.Nodes) {
			f.Modules = append(f.Modules, m)
		}
	}
	sort.Strings(f.Modules)
	f.DataStreams = count["data-streams"] == len(body.Nodes) && len(body.Nodes) > 0
	f.ILM = count["x-pack-ilm"] == len(body.Nodes) && len(body.Nodes) > 0
	return f, nil
}

// Options choose how Install adapts to the cluster.
type Options struct {
	// DataStream makes the log alias a data stream (requires the feature).
	// Off by default: a data stream rolls over by size and age, so a replay
	// after a rollover lands in a new backing index where the _id is not
	// known and would be a duplicate; daily indices derived from @timestamp
	// put every copy of a record in the same index.
	DataStream bool
	// Retention deletes log indices older than this via an ILM policy when
	// the cluster has ILM ("" = keep forever), e.g. "30d".
	Retention string
}

// Install creates or updates, idempotently, the component and index
// templates of the log indices, the ILM policy (when asked for and
// available), and the trace summary and alert indices.
func Install(ctx context.Context, es *elasticsearch.Client, n Names, s Settings, f Features, o Options, log *slog.Logger) error {
	if o.DataStream && !f.DataStreams {
		return fmt.Errorf("index.data-stream: the cluster has no data-streams module")
	}
	if o.Retention != "" && f.ILM {
		s.ILMPolicy = n.Alias
		policy := obj{"policy": obj{"phases": obj{
			"hot":    obj{"actions": obj{}},
			"delete": obj{"min_age": o.Retention, "actions": obj{"delete": obj{}}},
		}}}
		if err := do(ctx, es, http.MethodPut, "/_ilm/policy/"+s.ILMPolicy, policy, nil); err != nil {
			return fmt.Errorf("ilm policy: %w", err)
		}
	} else if o.Retention != "" {
		log.Warn("index.retention set but the cluster has no ILM; indices are kept", "retention", o.Retention)
	}
	if err := installTemplate(ctx, es, n, s, LogMappings(s), o.DataStream); err != nil {
		return err
	}
	if n.Spans != "" {
		// Span indices: daily indices behind their alias (never a data
		// stream: a span is indexed by its _id, create-only like records).
		if err := installTemplate(ctx, es, n.SpanNames(), s, SpanMappings(s), false); err != nil {
			return err
		}
	}
	small := obj{"index": obj{"number_of_shards": 1, "number_of_replicas": s.Replicas, "refresh_interval": s.RefreshInterval}}
	if err := ensureIndex(ctx, es, n.Traces, small, TraceMappings()); err != nil {
		return err
	}
	if err := ensureIndex(ctx, es, n.Alerts, small, AlertMappings()); err != nil {
		return err
	}
	log.Info("index templates installed", "template", n.Alias, "pattern", n.Glob(), "traces", n.Traces, "alerts", n.Alerts,
		"data_stream", o.DataStream, "ilm_policy", s.ILMPolicy)
	return nil
}

// installTemplate puts the component templates (settings, mappings) and
// the index template of one family of indices.
func installTemplate(ctx context.Context, es *elasticsearch.Client, n Names, s Settings, mappings obj, dataStream bool) error {
	cs, cm := ComponentNames(n)
	if err := do(ctx, es, http.MethodPut, "/_component_template/"+cs, obj{"template": obj{"settings": LogSettings(s)}}, nil); err != nil {
		return fmt.Errorf("component template %s: %w", cs, err)
	}
	if err := do(ctx, es, http.MethodPut, "/_component_template/"+cm, obj{"template": obj{"mappings": mappings}}, nil); err != nil {
		return fmt.Errorf("component template %s: %w", cm, err)
	}
	if err := do(ctx, es, http.MethodPut, "/_index_template/"+n.Alias, IndexTemplate(n, dataStream), nil); err != nil {
		return fmt.Errorf("index template %s: %w", n.Alias, err)
	}
	return nil
}

// ensureIndex creates index with the mapping, or adds the mapping's fields to
// an existing one (both idempotent).
func ensureIndex(ctx context.Context, es *elasticsearch.Client, index string, settings, mappings obj) error {
	err := do(ctx, es, http.MethodPut, "/"+index, obj{"settings": settings, "mappings": mappings}, nil)
	if err == nil {
		return nil
	}
	if !strings.Contains(err.Error(), "resource_already_exists_exception") {
		return fmt.Errorf("create index %s: %w", index, err)
	}
	if err := do(ctx, es, http.MethodPut, "/"+index+"/_mapping", mappings, nil); err != nil {
		return fmt.Errorf("update mapping of %s: %w", index, err)
	}
	return nil
}

// do is esclient.Do: one JSON request, the answer decoded into out.
func do(ctx context.Context, es *elasticsearch.Client, method, path string, in, out any) error {
	return esclient.Do(ctx, es, method, path, in, out)
}

// Uninstall removes the templates (tests; the indices are removed by name).
func Uninstall(ctx context.Context, es *elasticsearch.Client, n Names) {
	for _, f := range []Names{n, n.SpanNames()} {
		if f.Alias == "" {
			continue
		}
		cs, cm := ComponentNames(f)
		_ = do(ctx, es, http.MethodDelete, "/_index_template/"+f.Alias, nil, nil)
		_ = do(ctx, es, http.MethodDelete, "/_component_template/"+cs, nil, nil)
		_ = do(ctx, es, http.MethodDelete, "/_component_template/"+cm, nil, nil)
	}
	_ = do(ctx, es, http.MethodDelete, "/_ilm/policy/"+n.Alias, nil, nil)
}

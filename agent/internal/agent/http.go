package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	"go.opentelemetry.io/otel/propagation"

	"github.com/agentobs/agentobs/agent/internal/env"
	"github.com/agentobs/agentobs/agent/internal/executor"
)

// maxTaskBody bounds a POST /tasks body.
const maxTaskBody = 1 << 20

// Handler serves POST /tasks: a JSON env.Task from a user or a peer agent.
// Without ?wait=true the task is queued and 202 Accepted is returned; with
// it (what peers send) the response waits for the result, 200 with an
// executor.TaskResponse. A full queue answers 429, a draining agent 503:
// callers retry elsewhere or later instead of piling up work.
func (a *Agent) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		var task env.Task
		if err := json.NewDecoder(io.LimitReader(r.Body, maxTaskBody)).Decode(&task); err != nil {
			http.Error(w, "bad task JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
		if task.Kind == "" {
			task.Kind = env.Kinds[0]
		}
		if !slices.Contains(env.Kinds, task.Kind) {
			http.Error(w, fmt.Sprintf("unknown task kind %q; use one of %v", task.Kind, env.Kinds), http.StatusBadRequest)
			return
		}
		if task.Steps < 1 {
			task.Steps = 1
		}
		if task.Steps > 10 {
			task.Steps = 10
		}
		if task.ID == "" {
			task.ID = fmt.Sprintf("%s-http-%06d", a.cfg.ID, a.httpIDs.Add(1))
		}
		source := SourceHTTP
		if task.Depth > 0 {
			source = SourcePeer
		}
		// Continue the caller's trace (W3C traceparent/tracestate and
		// baggage). The request context is not the parent's lifetime: a
		// queued task outlives a 202 response.
		parent := a.prop.Extract(context.WithoutCancel(r.Context()), propagation.HeaderCarrier(r.Header))
		wait := r.URL.Query().Get("wait") == "true"
		var done chan executor.TaskResponse
		if wait {
			done = make(chan executor.TaskResponse, 1)
		}
		if err := a.Submit(parent, task, source, done); err != nil {
			status := http.StatusTooManyRequests
			if a.draining.Load() || !a.Accepting() {
				status = http.StatusServiceUnavailable
			}
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if !wait {
			w.WriteHeader(http.StatusAccepted)
			_ = json.NewEncoder(w).Encode(executor.TaskResponse{ID: task.ID, Outcome: "accepted"})
			return
		}
		select {
		case resp := <-done:
			_ = json.NewEncoder(w).Encode(resp)
		case <-r.Context().Done():
			// The caller gave up; the task still finishes and is counted.
		}
	})
}

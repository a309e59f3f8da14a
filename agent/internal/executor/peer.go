package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentobs/agentobs/agent/internal/env"
)

// TaskResponse is the body a peer answers to POST /tasks?wait=true.
type TaskResponse struct {
	ID      string `json:"id"`
	Outcome string `json:"outcome"`
	Steps   int    `json:"steps"`
	Error   string `json:"error,omitempty"`
}

// delegate hands the task to the next peer (round robin) and waits for its
// result. The peer receives the W3C traceparent of this client span, so its
// invoke_agent server span joins this trace.
func (e *Executor) delegate(ctx context.Context, task env.Task) Result {
	res := Result{Arm: "delegate", Outcome: OutcomeError}
	if len(e.peers) == 0 {
		res.Err = errors.New("delegate: no peers configured")
		return res
	}
	peer := e.peers[(e.next.Add(1)-1)%uint64(len(e.peers))]
	res.Peer = peer.Name
	port, _ := strconv.Atoi(peer.URL.Port())
	ctx, span := e.set.Tracer.Start(ctx, "invoke_agent "+peer.Name,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			semconv.GenAIOperationNameInvokeAgent,
			semconv.GenAIAgentName(peer.Name),
			semconv.ServerAddress(peer.URL.Hostname()),
			semconv.ServerPort(port),
		))
	defer span.End()

	start := time.Now()
	resp, status, err := e.post(ctx, peer, task)
	res.Duration = time.Since(start)
	switch {
	case err == nil && resp.Outcome == OutcomeSuccess:
		res.Outcome = OutcomeSuccess
		res.Output = fmt.Sprintf("peer %s finished %s in %d steps", peer.Name, resp.ID, resp.Steps)
	case err == nil:
		res.Err = fmt.Errorf("peer %s: task %s ended %s: %s", peer.Name, resp.ID, resp.Outcome, resp.Error)
	case errors.Is(err, context.Canceled):
		res.Outcome, res.Err = OutcomeCanceled, err
	case errors.Is(err, context.DeadlineExceeded):
		res.Outcome, res.Err = OutcomeTimeout, err
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		res.Outcome, res.Err = OutcomeRejected, err
	default:
		res.Err = err
	}
	if status != 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	e.set.Observer.PeerCall(ctx, res.Outcome, res.Duration)
	attrs := []any{slog.String("peer", peer.Name), slog.String("outcome", res.Outcome), slog.Float64("duration_ms", ms(res.Duration))}
	if res.Err != nil {
		span.SetStatus(codes.Error, res.Err.Error())
		span.SetAttributes(semconv.ErrorTypeKey.String(res.Outcome))
		span.RecordError(res.Err)
		e.set.Logger.WarnContext(ctx, "delegation failed", append(attrs, slog.String("error.type", res.Outcome), slog.String("error.message", res.Err.Error()))...)
	} else {
		e.set.Logger.InfoContext(ctx, "delegation finished", attrs...)
	}
	return res
}

func (e *Executor) post(ctx context.Context, peer Peer, task env.Task) (TaskResponse, int, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.PeerTimeout)
	defer cancel()
	sub := task
	sub.ID = task.ID + "/d" + strconv.Itoa(task.Depth+1)
	sub.Depth = task.Depth + 1
	body, err := json.Marshal(sub)
	if err != nil {
		return TaskResponse{}, 0, err
	}
	u := peer.URL.JoinPath("tasks")
	u.RawQuery = "wait=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return TaskResponse{}, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	// W3C Trace Context (https://www.w3.org/TR/trace-context/): traceparent
	// and tracestate, plus baggage, from the current span.
	e.set.Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := e.set.Client.Do(req)
	if err != nil {
		return TaskResponse{}, 0, fmt.Errorf("peer %s: %w", peer.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return TaskResponse{}, resp.StatusCode, fmt.Errorf("peer %s: status %d: %s", peer.Name, resp.StatusCode, bytes.TrimSpace(msg))
	}
	var tr TaskResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tr); err != nil {
		return TaskResponse{}, resp.StatusCode, fmt.Errorf("peer %s: decode response: %w", peer.Name, err)
	}
	return tr, resp.StatusCode, nil
}

package agent

import (
	"context"
	"log/slog"
)

type stepKey struct{}

// withStep stores the step number in ctx; stepHandler adds it to every
// record logged with that context, from any package, the same way the
// trace handler adds trace_id and span_id: nobody passes it by hand.
func withStep(ctx context.Context, step int) context.Context {
	return context.WithValue(ctx, stepKey{}, step)
}

type stepHandler struct{ slog.Handler }

func (h stepHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil {
		return h.Handler.Handle(ctx, r)
	}
	if step, ok := ctx.Value(stepKey{}).(int); ok {
		r = r.Clone()
		r.AddAttrs(slog.Int("agent.step", step))
	}
	return h.Handler.Handle(ctx, r)
}

func (h stepHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return stepHandler{h.Handler.WithAttrs(as)}
}

func (h stepHandler) WithGroup(name string) slog.Handler {
	return stepHandler{h.Handler.WithGroup(name)}
}

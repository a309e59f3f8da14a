package telemetry

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// ApplyMemoryLimit sets the Go runtime's soft memory limit to limit bytes:
// the garbage collector runs more often as the heap nears it, so garbage
// cannot push RSS far above what a component holds live (its own bounds:
// the shipper's queue.max-bytes, the indexer's buffered and bulk bytes).
// GOMEMLIMIT, when set, wins (the runtime read it already); limit <= 0
// sets nothing.
func ApplyMemoryLimit(limit int64, log *slog.Logger) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set || limit <= 0 {
		return
	}
	debug.SetMemoryLimit(limit)
	log.Debug("go soft memory limit set", "bytes", limit)
}

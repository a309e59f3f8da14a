package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Generate produces cfg.Records lines as fast as possible, handing each to
// fn (the slice is reused: copy it to keep it). Rate and Duration are
// ignored. An error from fn stops generation and is returned.
func Generate(cfg Config, fn func(line []byte) error) (Report, error) {
	if cfg.Records <= 0 {
		return Report{}, errors.New("loadgen.Generate: records must be positive")
	}
	g, err := NewGenerator(cfg)
	if err != nil {
		return Report{}, err
	}
	start := time.Now()
	for range cfg.Records {
		if err := fn(g.Next().Data); err != nil {
			r := g.Report()
			r.finish(time.Since(start))
			return r, err
		}
	}
	r := g.Report()
	r.finish(time.Since(start))
	return r, nil
}

// GenerateFile writes cfg.Records lines into a new file at path as fast as
// possible (Generate into a file): the fixed corpora of benchmarks and of
// the demo's plugin stream.
func GenerateFile(cfg Config, path string) (Report, error) {
	f, err := os.Create(path)
	if err != nil {
		return Report{}, fmt.Errorf("corpus: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rep, err := Generate(cfg, func(line []byte) error {
		_, err := w.Write(line)
		return err
	})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return rep, fmt.Errorf("corpus %s: %w", path, err)
	}
	return rep, nil
}

// batchBytes is how much Run buffers before a write. Writes always end at a
// line boundary, so a reader (or a rotation) never sees half a line.
const batchBytes = 64 << 10

// Run writes lines to w at cfg.Rate until cfg.Records lines were written,
// cfg.Duration passed or ctx ended, whichever comes first, and reports what
// it wrote. With a rate the output is flushed at least every few
// milliseconds, so a tailing reader sees a steady stream.
func Run(ctx context.Context, cfg Config, w io.Writer) (Report, error) {
	g, err := NewGenerator(cfg)
	if err != nil {
		return Report{}, err
	}
	cfg = g.cfg
	start := time.Now()
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
	batch := make([]byte, 0, batchBytes+4096)
	var n int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := w.Write(batch)
		batch = batch[:0]
		return err
	}
	done := func() bool { return cfg.Records > 0 && n >= cfg.Records }
	for !done() {
		now := time.Now()
		if ctx.Err() != nil || (!deadline.IsZero() && !now.Before(deadline)) {
			break
		}
		// How many records should exist by now; as fast as possible means
		// a batch at a time between context checks.
		target := n + 4096
		if cfg.Rate > 0 {
			target = int64(now.Sub(start).Seconds()*float64(cfg.Rate)) + 1
		}
		for n < target && !done() {
			batch = append(batch, g.Next().Data...)
			n++
			if len(batch) >= batchBytes {
				if err := flush(); err != nil {
					return g.finalReport(start), fmt.Errorf("write: %w", err)
				}
			}
		}
		if cfg.Rate > 0 {
			if err := flush(); err != nil {
				return g.finalReport(start), fmt.Errorf("write: %w", err)
			}
			// Sleep until the next record is due, but at least 1ms: timers
			// are coarse, and catching up in small batches is cheaper.
			due := start.Add(time.Duration(float64(n) / float64(cfg.Rate) * float64(time.Second)))
			wait := max(time.Until(due), time.Millisecond)
			if !deadline.IsZero() {
				wait = min(wait, max(time.Until(deadline), 0))
			}
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
	if err := flush(); err != nil {
		return g.finalReport(start), fmt.Errorf("write: %w", err)
	}
	return g.finalReport(start), nil
}

func (g *Generator) finalReport(start time.Time) Report {
	r := g.Report()
	r.finish(time.Since(start))
	return r
}

// RunFile is Run into a file at path (created or appended to), rotating it
// by rename when cfg.RotateBytes is set, as logrotate or a container
// runtime does: the shipper's tests use it to exercise rotation.
func RunFile(ctx context.Context, cfg Config, path string) (Report, error) {
	rf, err := OpenRotating(path, cfg.RotateBytes)
	if err != nil {
		return Report{}, err
	}
	r, err := Run(ctx, cfg, rf)
	if cerr := rf.Close(); err == nil {
		err = cerr
	}
	r.Files = rf.Files()
	return r, err
}

// RotatingFile is an append-only file that, before a write would take it
// past max bytes, renames itself to path.N (N = 1, 2, … in rotation order,
// so a renamed file keeps its name) and continues in a new file at path.
// Callers write whole lines per Write, so no line is split across files.
type RotatingFile struct {
	path  string
	max   int64
	f     *os.File
	size  int64
	n     int
	files []string
}

// OpenRotating opens path for appending; max 0 never rotates.
func OpenRotating(path string, max int64) (*RotatingFile, error) {
	r := &RotatingFile{path: path, max: max}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *RotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", r.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat %s: %w", r.path, err)
	}
	r.f, r.size = f, st.Size()
	return nil
}

// Write appends p, rotating first if p would not fit.
func (r *RotatingFile) Write(p []byte) (int, error) {
	if r.max > 0 && r.size > 0 && r.size+int64(len(p)) > r.max {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

func (r *RotatingFile) rotate() error {
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", r.path, err)
	}
	r.n++
	to := fmt.Sprintf("%s.%d", r.path, r.n)
	if err := os.Rename(r.path, to); err != nil {
		return fmt.Errorf("rotate %s: %w", r.path, err)
	}
	r.files = append(r.files, to)
	return r.open()
}

// Files lists the rotated files and then the current one.
func (r *RotatingFile) Files() []string {
	return append(append([]string(nil), r.files...), r.path)
}

// Close closes the current file.
func (r *RotatingFile) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

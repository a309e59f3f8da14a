package app

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/shipper/internal/lines"
	"github.com/agentobs/agentobs/shipper/internal/queue"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
)

// runStdin ships standard input until it ends or ctx ends. stdin cannot be
// re-read, so its event.id source is host|stdin|<random per process> with
// the byte offset as position: unique per run, which is all it can be.
// Batches are cut by size and, for a slow writer, every poll interval.
func (a *App) runStdin(ctx context.Context) error {
	e, err := a.newEdge("shipper/"+a.cfg.Host+"/stdin/"+a.epoch, 0)
	if err != nil {
		return err
	}
	format, _ := record.ParseFormat(a.cfg.Files.Format)
	p := record.NewParser(record.ParseOptions{Format: format, MaxLineBytes: a.cfg.Files.MaxLineBytes, DefaultService: a.cfg.Service, ReuseValues: true})
	b := queue.NewBuilder(p, e, publish.StdinSource(a.cfg.Host, a.epoch), shippermetrics.InputStdin,
		map[string]any{"host.name": a.cfg.Host, record.FieldSource: "stdin"}, a.m, 0)
	var mu, putMu sync.Mutex // mu guards b; putMu keeps batches in read order
	lane := a.lane.Add(1)
	flush := func(ctx context.Context) error {
		putMu.Lock()
		defer putMu.Unlock()
		mu.Lock()
		bt := b.Take()
		mu.Unlock()
		if len(bt.Msgs) == 0 {
			return nil
		}
		bt.Lane, bt.Done = lane, func(error) {}
		return a.queue.Put(ctx, bt)
	}
	readDone := make(chan error, 1)
	go func() {
		r := lines.NewReader(a.set.Stdin, 0, a.cfg.Files.MaxLineBytes)
		for {
			l, err := r.Next()
			if err != nil {
				mu.Lock()
				if l, ok := r.Final(); ok {
					b.Add(l, l.Start)
				}
				b.Flush()
				mu.Unlock()
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readDone <- err
				return
			}
			mu.Lock()
			b.Add(l, l.Start)
			full := b.Len() >= a.cfg.Files.BatchRecords || b.Bytes() >= a.cfg.Files.BatchBytes
			mu.Unlock()
			if full {
				if err := flush(ctx); err != nil {
					readDone <- nil // shutting down
					return
				}
			}
		}
	}()
	tick := time.NewTicker(a.cfg.Files.PollInterval)
	defer tick.Stop()
	for {
		select {
		case err := <-readDone:
			a.log.Info("stdin ended")
			if ferr := flush(ctx); err == nil && !errors.Is(ferr, context.Canceled) {
				err = ferr
			}
			return err
		case <-ctx.Done():
			// What was read is delivered by Close; a reader blocked in
			// Read is abandoned (stdin cannot be interrupted portably).
			fctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
			defer cancel()
			return flush(fctx)
		case <-tick.C:
			if err := flush(ctx); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}

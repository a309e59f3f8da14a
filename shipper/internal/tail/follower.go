package tail

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/shipper/internal/checkpoint"
	"github.com/agentobs/agentobs/shipper/internal/lines"
	"github.com/agentobs/agentobs/shipper/internal/queue"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
)

// follower reads one file (one dev:inode) from its goroutine. A new
// generation (copytruncate) replaces its reading state in place.
type follower struct {
	t    *Tailer
	file *os.File
	log  *slog.Logger
	key  string
	lane uint64
	done chan struct{}

	mu      sync.Mutex
	curPath string
	gone    atomic.Bool  // no longer matched by the globs: drain and stop
	size    atomic.Int64 // last seen size, for the lag gauge

	// Reading state of the current generation (owned by run's goroutine,
	// except gen.progress which acks reach from the senders).
	gen *generation
}

type generation struct {
	entry    checkpoint.Entry
	edge     *publish.Edge
	reader   *lines.Reader
	builder  *queue.Builder
	progress *checkpoint.Progress
	fp       string
	fpLen    int
	lastSafe int64
}

func (t *Tailer) newFollower(file *os.File, path string, e checkpoint.Entry) (*follower, error) {
	f := &follower{t: t, file: file, key: e.Key(), lane: lane(e.Key()), done: make(chan struct{}), curPath: path,
		log: t.log.With("path", path)}
	g, err := f.newGeneration(e)
	if err != nil {
		return nil, err
	}
	f.gen = g
	return f, nil
}

func (f *follower) newGeneration(e checkpoint.Entry) (*generation, error) {
	if _, err := f.file.Seek(e.Offset, io.SeekStart); err != nil {
		return nil, err
	}
	ed, err := f.t.set.NewEdge(producerID(f.t.set.Host, e), e.Records)
	if err != nil {
		return nil, err
	}
	p := record.NewParser(record.ParseOptions{Format: f.t.format, MaxLineBytes: f.t.cfg.MaxLineBytes, DefaultService: f.t.set.DefaultService, ReuseValues: true})
	fields := map[string]any{"host.name": f.t.set.Host, record.FieldFilePath: f.path(), record.FieldSource: f.path()}
	for k, v := range pathMeta(f.path()) {
		fields[k] = v
	}
	return &generation{
		entry:    e,
		edge:     ed,
		reader:   lines.NewReader(f.file, e.Offset, f.t.cfg.MaxLineBytes),
		builder:  queue.NewBuilder(p, ed, sourceID(f.t.set.Host, e), shippermetrics.InputFile, fields, f.t.set.Metrics, e.Offset),
		progress: checkpoint.NewProgress(e.Offset, e.Records),
		fp:       e.Fingerprint, fpLen: e.FingerprintLen, lastSafe: e.Offset,
	}, nil
}

func (f *follower) path() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.curPath
}

func (f *follower) setPath(p string) {
	f.mu.Lock()
	f.curPath = p
	f.mu.Unlock()
}

// retire asks the follower to read to the end and stop; true the first time.
func (f *follower) retire() bool { return !f.gone.Swap(true) }

// lag is the bytes of the file not yet acknowledged.
func (f *follower) lag() int64 {
	f.mu.Lock()
	g := f.gen
	f.mu.Unlock()
	off, _, _ := g.progress.Acked()
	return max(0, f.size.Load()-off)
}

// run reads until ctx ends or the file is retired and fully read.
func (f *follower) run(ctx context.Context) {
	defer close(f.done)
	defer f.file.Close()
	written, unwatch, err := f.t.notify.watch(f.file)
	if err != nil {
		f.log.Warn("file not watched; new lines are read at each poll", "poll_interval", f.t.cfg.PollInterval, "err", err)
	}
	defer unwatch()
	for {
		g := f.gen
		l, err := g.reader.Next()
		if err == nil {
			g.builder.Add(l, l.Start)
			if g.builder.Len() >= f.t.cfg.BatchRecords || g.builder.Bytes() >= f.t.cfg.BatchBytes {
				if !f.emit(ctx, g) {
					return
				}
			}
			continue
		}
		if !errors.Is(err, io.EOF) {
			f.log.Error("read failed; file dropped until it is matched again", "err", err)
			return
		}
		if f.gone.Load() {
			// Rotated away: its last line may lack a newline; nothing more comes.
			if l, ok := g.reader.Final(); ok {
				g.builder.Add(l, l.Start)
			}
			g.builder.Flush()
			f.emit(ctx, g)
			f.finish(g)
			return
		}
		if !f.emit(ctx, g) {
			return
		}
		if f.truncated(g) {
			if !f.restart(g) {
				return
			}
			continue
		}
		if !f.wait(ctx, written) {
			return
		}
	}
}

// eofLinger is the least time between two reads at the end of a file that
// is being written. A file written line by line wakes the follower for
// every write; reading at once each time would send batches of a line or
// two, one produce round trip each, on the file's one lane. With the linger
// a file written at 20 000 lines/s is read in batches of about 400, and a
// line written after a quiet spell is still read at once.
const eofLinger = 20 * time.Millisecond

// wait is the follower's pause at the end of its file: until the file is
// written (written, when watched) or the poll interval passed. false means
// shutdown.
func (f *follower) wait(ctx context.Context, written <-chan struct{}) bool {
	start := time.Now()
	poll := time.NewTimer(f.t.cfg.PollInterval)
	defer poll.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-poll.C:
		return true
	case <-written:
	}
	if d := eofLinger - time.Since(start); d > 0 {
		poll.Reset(d)
		select {
		case <-ctx.Done():
			return false
		case <-poll.C:
		}
	}
	return true
}

// emit hands the batch built so far to the queue, blocking while the queue
// is full (backpressure: this file is not read further meanwhile). false
// means shutdown. The batch's acknowledgement moves the checkpoint.
func (f *follower) emit(ctx context.Context, g *generation) bool {
	safe := g.builder.Safe()
	if g.builder.Len() == 0 && safe == g.lastSafe {
		return true
	}
	if g.fpLen < fingerprintBytes && safe > int64(g.fpLen) {
		g.fp, g.fpLen = fingerprint(f.file, safe)
	}
	g.lastSafe = safe
	mark := g.progress.Add(safe, g.builder.Records())
	key, gen, fp, fpLen := f.key, g.entry.Generation, g.fp, g.fpLen
	store := f.t.store
	b := g.builder.Take()
	b.Lane, b.Done = f.lane, func(err error) {
		if err != nil {
			return // not delivered: the checkpoint stays, a restart re-reads
		}
		if off, rec, moved := g.progress.Done(mark); moved {
			store.Advance(key, gen, off, rec, fp, fpLen)
		}
	}
	return f.t.set.Queue.Put(ctx, b) == nil
}

// truncated reports a copytruncate: the file is now shorter than what was
// read, or its head bytes changed (truncated and rewritten past our
// position between two polls).
func (f *follower) truncated(g *generation) bool {
	st, err := f.file.Stat()
	if err != nil {
		return false
	}
	f.size.Store(st.Size())
	f.t.store.SeenSize(f.key, g.entry.Generation, st.Size())
	if st.Size() < g.reader.ReadPos() {
		return true
	}
	return !fingerprintMatches(f.file, g.fp, g.fpLen)
}

// restart begins a new generation at offset 0 after a truncation.
func (f *follower) restart(old *generation) bool {
	f.t.set.Metrics.Rotations.WithLabelValues(shippermetrics.RotationTruncate).Inc()
	e := checkpoint.Entry{Path: f.path(), Dev: old.entry.Dev, Inode: old.entry.Inode, Generation: f.t.store.NewGeneration()}
	f.t.store.Put(e)
	if err := f.t.save(true); err != nil {
		f.log.Warn("new generation not yet persisted", "err", err)
	}
	g, err := f.newGeneration(e)
	if err != nil {
		f.log.Error("cannot restart truncated file", "err", err)
		return false
	}
	f.t.truncatedUnread(f.log, f.path(), old.entry.Dev, old.entry.Inode, old.fp, old.fpLen, old.reader.ReadPos(), old.reader.ReadPos(), false,
		"file truncated (copytruncate)")
	f.log.Info("file truncated (copytruncate); reading it again as a new generation",
		"read_pos", old.reader.ReadPos(), "generation", e.Generation)
	f.mu.Lock()
	f.gen = g
	f.mu.Unlock()
	return true
}

// finish forgets the file's checkpoint once everything read was delivered;
// if batches are still in flight the entry stays (harmless: the next start
// finds the file again by its identity and re-sends the tail under the same
// event.ids, or reports it if the file is gone by then).
func (f *follower) finish(g *generation) {
	if _, _, out := g.progress.Acked(); out == 0 {
		f.t.store.Delete(f.key)
		if f.t.set.EndEdge != nil {
			f.t.set.EndEdge(g.edge)
		}
	}
	f.log.Info("file finished")
}

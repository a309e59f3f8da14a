package tail

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/shipper/internal/checkpoint"
	"github.com/agentobs/agentobs/shipper/internal/queue"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
)

// Settings are what the tailer gets from the application.
type Settings struct {
	Host           string // host name: first part of the event.id source
	DefaultService string // service.name of lines that name none
	Logger         *slog.Logger
	Metrics        *shippermetrics.Metrics
	Queue          *queue.Queue
	// NewEdge builds the edge stage of one file generation, with its own
	// producer id and sequence (continuing from startSeq after a restart).
	NewEdge func(producerID string, startSeq uint64) (*publish.Edge, error)
	// EndEdge, when set, is told that a file generation's producer ended
	// cleanly (the file was drained and forgotten): its last high-water
	// mark is final.
	EndEdge func(*publish.Edge)
}

// Tailer discovers and follows files.
type Tailer struct {
	cfg    Config
	set    Settings
	format record.Format
	log    *slog.Logger

	mu    sync.Mutex
	store *checkpoint.Store
	files map[string]*follower // by checkpoint key (dev:inode)
	wg    sync.WaitGroup
	// notify wakes followers when their file is written; nil: they poll.
	notify *notifier
	// list is match, replaced by tests that need a listing raced by a
	// rename.
	list func() map[string]found
}

// New builds the tailer; no I/O until Run.
func New(cfg Config, set Settings) (*Tailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f, _ := record.ParseFormat(cfg.Format)
	t := &Tailer{cfg: cfg, set: set, format: f, log: set.Logger.With("component", "tail"), files: map[string]*follower{}}
	t.list = t.match
	return t, nil
}

// Run opens the checkpoints, then globs every poll interval, following new
// files and retiring vanished ones, until ctx ends. It returns after every
// follower stopped; the batches they queued are still being delivered.
func (t *Tailer) Run(ctx context.Context) error {
	store, err := checkpoint.Open(t.cfg.CheckpointDir)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.store = store
	t.mu.Unlock()
	t.log.Info("tailing files", "include", t.cfg.Include, "exclude", t.cfg.Exclude, "checkpoint_dir", t.cfg.CheckpointDir,
		"checkpointed_files", len(store.Entries()))
	if t.cfg.Inotify {
		if t.notify, err = newNotifier(); err != nil {
			t.log.Warn("file notifications unavailable; new lines are read at each poll", "poll_interval", t.cfg.PollInterval, "err", err)
		}
	}
	poll := time.NewTicker(t.cfg.PollInterval)
	defer poll.Stop()
	lastSave := time.Now()
	t.scan(ctx, true)
	for {
		select {
		case <-ctx.Done():
			t.wg.Wait()
			t.notify.close()
			return nil
		case <-poll.C:
		}
		t.scan(ctx, false)
		if time.Since(lastSave) >= t.cfg.CheckpointInterval {
			t.save(false)
			lastSave = time.Now()
		}
	}
}

// Finish writes the final checkpoints; call it after the senders drained.
func (t *Tailer) Finish() error {
	t.mu.Lock()
	s := t.store
	t.mu.Unlock()
	if s == nil {
		return nil
	}
	return t.save(true)
}

func (t *Tailer) save(force bool) error {
	err := t.store.Save(force)
	if err != nil {
		t.set.Metrics.CheckpointWrites.WithLabelValues("error").Inc()
		t.log.Error("checkpoint write failed; positions are kept in memory and retried", "err", err)
		return err
	}
	t.set.Metrics.CheckpointWrites.WithLabelValues("ok").Inc()
	return nil
}

// match lists the files the globs select now, by identity.
func (t *Tailer) match() map[string]found {
	out := map[string]found{}
	for _, pat := range t.cfg.Include {
		paths, _ := filepath.Glob(pat) // patterns were validated
		sort.Strings(paths)
		for _, p := range paths {
			if t.excluded(p) {
				continue
			}
			st, err := os.Stat(p) // follows the kubelet's symlinks to the real file
			if err != nil || !st.Mode().IsRegular() {
				continue
			}
			sys, ok := st.Sys().(*syscall.Stat_t)
			if !ok {
				continue
			}
			key := checkpoint.Key(uint64(sys.Dev), sys.Ino)
			if _, dup := out[key]; !dup {
				out[key] = found{path: p, dev: uint64(sys.Dev), ino: sys.Ino}
			}
		}
	}
	return out
}

type found struct {
	path     string
	dev, ino uint64
}

func (t *Tailer) excluded(p string) bool {
	for _, ex := range t.cfg.Exclude {
		if ok, _ := filepath.Match(ex, p); ok {
			return true
		}
		if ok, _ := filepath.Match(ex, filepath.Base(p)); ok {
			return true
		}
	}
	return false
}

func (t *Tailer) scan(ctx context.Context, first bool) {
	seen := t.list()
	var lag int64
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lostFollowed(seen) {
		// A rename between the glob's listing and its stat (app.log listed,
		// then stat'ed as the new app.log) hides the renamed file from one
		// listing; a second listing finds it under its new name. Retiring
		// it instead drains it, forgets it and then meets it again as a file
		// never seen: its in-flight tail re-sent, or all of it under a new
		// generation (other event.ids) once its checkpoint was dropped.
		for key, fd := range t.list() {
			if _, ok := seen[key]; !ok {
				seen[key] = fd
			}
		}
	}
	for key, f := range t.files {
		select {
		case <-f.done:
			delete(t.files, key)
			continue
		default:
		}
		if fd, ok := seen[key]; ok {
			if fd.path != f.path() {
				t.set.Metrics.Rotations.WithLabelValues(shippermetrics.RotationRename).Inc()
				t.log.Info("file renamed", "from", f.path(), "to", fd.path)
				f.setPath(fd.path)
			}
		} else if f.retire() {
			// Renamed out of the globs or deleted: read to its end, then stop.
			t.set.Metrics.Rotations.WithLabelValues(shippermetrics.RotationRename).Inc()
			t.log.Info("file rotated away; draining it", "path", f.path())
		}
		lag += f.lag()
	}
	if first {
		// Files the globs lost while the shipper was stopped: rotated away,
		// deleted or replaced. Found again and drained, or reported.
		for _, e := range t.store.Entries() {
			if _, ok := seen[e.Key()]; !ok {
				t.recoverMoved(ctx, e)
			}
		}
	}
	for key, fd := range seen {
		if _, ok := t.files[key]; ok {
			continue
		}
		f, err := t.open(fd, first)
		if errors.Is(err, errFollowed) {
			continue
		}
		if err != nil {
			t.log.Warn("cannot follow file", "path", fd.path, "err", err)
			continue
		}
		t.files[f.key] = f
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			f.run(ctx)
		}()
	}
	t.set.Metrics.FilesWatched.Set(float64(len(t.files)))
	t.set.Metrics.CheckpointLag.Set(float64(lag))
}

// lostFollowed reports whether a followed, still running file is missing
// from seen. Called with t.mu held.
func (t *Tailer) lostFollowed(seen map[string]found) bool {
	for key, f := range t.files {
		if _, ok := seen[key]; !ok && !f.gone.Load() {
			return true
		}
	}
	return false
}

// errFollowed: the file open found is already followed.
var errFollowed = errors.New("already followed")

// open starts following a file: resume from its checkpoint when the file
// is the one checkpointed (same head bytes, not shorter), else begin a new
// generation. The generation is written to disk before any record of it is
// produced, so a crash cannot make the same lines come back under another
// generation (and another event.id).
func (t *Tailer) open(fd found, first bool) (*follower, error) {
	file, err := os.Open(fd.path)
	if err != nil {
		return nil, err
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, err
	}
	sys := st.Sys().(*syscall.Stat_t)
	fd.dev, fd.ino = uint64(sys.Dev), sys.Ino // the opened file is the truth
	key := checkpoint.Key(fd.dev, fd.ino)
	if _, ok := t.files[key]; ok {
		// The path was rotated between the listing and the open: it now
		// names a file already followed (the new app.log). The listed file
		// is found under its new name at the next scan.
		file.Close()
		return nil, errFollowed
	}
	e, ok := t.store.Get(key)
	resume := ok && st.Size() >= e.Offset && fingerprintMatches(file, e.Fingerprint, e.FingerprintLen)
	if ok && !resume {
		t.set.Metrics.Rotations.WithLabelValues(shippermetrics.RotationTruncate).Inc()
		log := t.log.With("path", fd.path, "key", key, "checkpoint_offset", e.Offset, "seen_size", e.Size, "size", st.Size())
		switch {
		case st.Size() < e.Offset:
			// copytruncate while the shipper was stopped: what was written
			// after the stop and before the truncation is not in this file.
			t.truncatedUnread(log, fd.path, fd.dev, fd.ino, e.Fingerprint, e.FingerprintLen, e.Offset, e.Size, true,
				"checkpointed file was truncated while the shipper was stopped (copytruncate)")
		case e.Size > e.Offset:
			t.lost(log, shippermetrics.UndrainedReplaced, e, "checkpointed file was replaced (inode reused, other head bytes)", fd.path)
		}
		log.Info("reading the truncated or replaced file as a new generation")
	}
	if !resume {
		e = checkpoint.Entry{Path: fd.path, Dev: fd.dev, Inode: fd.ino, Generation: t.store.NewGeneration()}
		if first && t.cfg.StartAt == StartEnd {
			e.Offset = st.Size()
		}
		e.Fingerprint, e.FingerprintLen = fingerprint(file, e.Offset)
		t.store.Put(e)
		if err := t.save(true); err != nil {
			t.log.Warn("new generation not yet persisted; a crash now may re-send this file's lines under new ids", "path", fd.path)
		}
	}
	f, err := t.newFollower(file, fd.path, e)
	if err != nil {
		file.Close()
		return nil, err
	}
	t.log.Info("following file", "path", fd.path, "key", key, "generation", e.Generation, "offset", e.Offset, "resumed", resume)
	return f, nil
}

func lane(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()
}

func producerID(host string, e checkpoint.Entry) string {
	return fmt.Sprintf("shipper/%s/file/%d:%d:%d", host, e.Dev, e.Inode, e.Generation)
}

func sourceID(host string, e checkpoint.Entry) string {
	return publish.FileSource(host, e.Dev, e.Inode, e.Generation)
}

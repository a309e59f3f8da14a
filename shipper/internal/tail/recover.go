package tail

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"github.com/agentobs/agentobs/shipper/internal/checkpoint"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
)

// recoverMoved handles, at start-up, the checkpointed files the globs no
// longer match: what a log rotator did while the shipper was stopped.
//
// A rotator renames within the directory (app.log → app.log.1, maybe
// outside the globs), compresses later and deletes last. So the file is
// looked for by identity (device:inode, then the head fingerprint) in the
// directory it was last seen in, then in the directories of the include
// patterns. Found with unread bytes: it is followed from its checkpoint and
// retired at once, so it is drained and its entry forgotten only after
// Kafka acknowledged the rest (the same event.ids as if it had never
// moved). Found fully read: forgotten. Not found, truncated or replaced:
// counted by reason in agentobs_shipper_files_undrained_total and logged
// once, never forgotten quietly. Call with t.mu held.
func (t *Tailer) recoverMoved(ctx context.Context, e checkpoint.Entry) {
	log := t.log.With("path", e.Path, "key", e.Key(), "checkpoint_offset", e.Offset, "seen_size", e.Size)
	path, ok := t.findByIdentity(e)
	if !ok {
		t.store.Delete(e.Key())
		if unread := e.Size - e.Offset; unread > 0 {
			t.undrained(shippermetrics.UndrainedDeleted, unread)
			log.Error("checkpointed file with unread bytes is gone (deleted or compressed while the shipper was stopped); its unread lines are lost",
				"unread_bytes", unread)
			return
		}
		log.Info("checkpointed file is gone; every byte seen before the stop was delivered")
		return
	}
	file, err := os.Open(path)
	if err != nil {
		log.Warn("found the rotated file but cannot open it; the checkpoint is kept for the next start", "found", path, "err", err)
		return
	}
	st, err := file.Stat()
	if err != nil || !sameFile(st, e) {
		file.Close()
		log.Warn("rotated file changed while opening it; the checkpoint is kept for the next start", "found", path)
		return
	}
	switch {
	case !fingerprintMatches(file, e.Fingerprint, e.FingerprintLen):
		file.Close()
		t.store.Delete(e.Key())
		t.lost(log, shippermetrics.UndrainedReplaced, e, "inode reused by another file while the shipper was stopped", path)
		return
	case st.Size() < e.Offset:
		file.Close()
		t.store.Delete(e.Key())
		t.lost(log, shippermetrics.UndrainedTruncated, e, "rotated file was truncated while the shipper was stopped", path)
		return
	case st.Size() == e.Offset:
		file.Close()
		t.store.Delete(e.Key())
		log.Info("rotated file was fully delivered before the stop; forgotten", "found", path)
		return
	}
	f, err := t.newFollower(file, path, e)
	if err != nil {
		file.Close()
		log.Error("cannot drain the rotated file; the checkpoint is kept for the next start", "found", path, "err", err)
		return
	}
	f.retire()
	t.set.Metrics.Rotations.WithLabelValues(shippermetrics.RotationRename).Inc()
	log.Info("file rotated while the shipper was stopped; draining it from its checkpoint", "found", path,
		"unread_bytes", st.Size()-e.Offset)
	t.files[e.Key()] = f
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f.run(ctx)
	}()
}

// lost counts and logs a checkpointed file whose unread part cannot be read.
func (t *Tailer) lost(log *slog.Logger, reason string, e checkpoint.Entry, why, path string) {
	unread := max(0, e.Size-e.Offset)
	t.undrained(reason, unread)
	log.Error(why+"; lines after the checkpoint are lost", "found", path, "reason", reason, "known_unread_bytes", unread)
}

func (t *Tailer) undrained(reason string, bytes int64) {
	t.set.Metrics.FilesUndrained.WithLabelValues(reason).Inc()
	t.set.Metrics.UndrainedBytes.WithLabelValues(reason).Add(float64(bytes))
}

// findByIdentity looks for the file of e by device:inode: first in the
// directory it was last seen in (renames by rotators stay there), then in
// the directories the include patterns name.
func (t *Tailer) findByIdentity(e checkpoint.Entry) (string, bool) {
	dirs := []string{filepath.Dir(e.Path)}
	for _, pat := range t.cfg.Include {
		ds, _ := filepath.Glob(filepath.Dir(pat))
		dirs = append(dirs, ds...)
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		if seen[d] {
			continue
		}
		seen[d] = true
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, de := range ents {
			if !de.Type().IsRegular() {
				continue
			}
			p := filepath.Join(d, de.Name())
			if st, err := os.Stat(p); err == nil && sameFile(st, e) {
				return p, true
			}
		}
	}
	return "", false
}

func sameFile(st os.FileInfo, e checkpoint.Entry) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && uint64(sys.Dev) == e.Dev && sys.Ino == e.Inode
}

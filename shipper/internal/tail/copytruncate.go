package tail

import (
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
)

// copytruncate (logrotate) copies a file and then truncates it in place, so
// the reader keeps its inode but the lines written after its last read
// position are now only in the copy. Those lines are lost to the reader;
// this file makes the loss visible: the truncation is logged and the bytes
// the reader had not read are counted in
// agentobs_shipper_undrained_bytes_total{reason="truncated"} (with
// agentobs_shipper_files_undrained_total{reason="truncated"}), measured in
// the copy when one is found beside the file, else as much as the reader
// had seen of the file before the truncation (a lower bound). The copy is
// not read: it has another inode, so its lines would get other event.ids
// than those already sent from the original.

// copyOf looks beside path for the copy copytruncate left: a regular file
// in the same directory, not the file itself (dev, ino), whose head bytes
// match the fingerprint (fp, fpLen > 0) and which is at least from bytes
// long. It returns the copy's path and size.
func copyOf(path string, dev, ino uint64, fp string, fpLen int, from int64) (string, int64, bool) {
	if fpLen == 0 {
		return "", 0, false // an empty head identifies nothing
	}
	dir := filepath.Dir(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", 0, false
	}
	var best string
	var bestSize int64
	var bestTime time.Time
	for _, de := range ents {
		if !de.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, de.Name())
		st, err := os.Stat(p)
		if err != nil || st.Size() < from {
			continue
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && uint64(sys.Dev) == dev && sys.Ino == ino {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		match := fingerprintMatches(f, fp, fpLen)
		f.Close()
		// Several copies with the same head (a file that always starts
		// with the same banner): the one just written is this rotation's.
		if match && (best == "" || st.ModTime().After(bestTime)) {
			best, bestSize, bestTime = p, st.Size(), st.ModTime()
		}
	}
	return best, bestSize, best != ""
}

// truncatedUnread counts and logs a truncation that cut bytes the reader
// had not read: from is the reader's position, seen how far it knew the
// file went, down whether it happened while the shipper was stopped (then
// the file is counted even when nothing can be measured: bytes written
// after the stop are unknown). why says what happened.
func (t *Tailer) truncatedUnread(log *slog.Logger, path string, dev, ino uint64, fp string, fpLen int, from, seen int64, down bool, why string) {
	unread, exact := max(0, seen-from), false
	cp, size, ok := copyOf(path, dev, ino, fp, fpLen, from)
	if ok {
		unread, exact = size-from, true
	}
	switch {
	case unread > 0 || down && !ok:
		t.undrained(shippermetrics.UndrainedTruncated, unread)
		log.Error(why+"; the lines after the last read position are lost", "copy", cp, "read_pos", from,
			"unread_bytes", unread, "exact", exact)
	case ok:
		log.Info(why+"; every byte before the truncation was read", "copy", cp, "read_pos", from)
	default:
		log.Warn(why+"; no copy found beside it: lines written after the last read and before the truncation, if any, are lost and not counted",
			"read_pos", from)
	}
}

package tail

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// copyTruncate does what logrotate's copytruncate does: copy p to dst,
// then truncate p in place (same inode).
func copyTruncate(t *testing.T, p, dst string) {
	t.Helper()
	in, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
}

func truncatedCounts(h *harness) (files, bytes float64) {
	return testutil.ToFloat64(h.m.FilesUndrained.WithLabelValues(shippermetrics.UndrainedTruncated)),
		testutil.ToFloat64(h.m.UndrainedBytes.WithLabelValues(shippermetrics.UndrainedTruncated))
}

// copytruncate while the shipper is stopped: the lines written after its
// checkpoint are only in the copy (outside the globs). They are lost, and
// the loss is counted exactly, measured in the copy found beside the file.
func TestCopyTruncateWhileStoppedCountsUnreadBytes(t *testing.T) {
	dir := t.TempDir()
	p, cp := filepath.Join(dir, "a.log"), filepath.Join(dir, "cp")
	appendLines(t, p, "read-1", "read-2", "read-3")
	h := newHarness(t, cp, p)
	h.start()
	h.waitFor(3)
	h.stop()
	appendLines(t, p, "lost-1", "lost-2") // 14 bytes written while the shipper is down
	copyTruncate(t, p, p+".1")
	appendLines(t, p, "new-1")

	h2 := newHarness(t, cp, p)
	h2.start()
	rs := h2.waitFor(1)
	h2.stop()
	if len(rs) != 1 || rs[0].msg != "new-1" {
		t.Fatalf("after the truncation got %v, want new-1", rs)
	}
	if files, bytes := truncatedCounts(h2); files != 1 || bytes != 14 {
		t.Errorf("undrained{truncated}: files %v bytes %v, want 1 and 14 (the two lines only in the copy)", files, bytes)
	}
}

// copytruncate while the shipper runs: lines written after its last read
// and before the truncation are lost; measured in the copy and counted. A
// truncation after which nothing was unread counts nothing.
func TestCopyTruncateWhileRunningCountsUnreadBytes(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendLines(t, p, "read-1", "read-2")
	h := newHarness(t, filepath.Join(dir, "cp"), p)
	h.cfg.PollInterval = time.Second // the lines below land between two polls…
	h.cfg.Inotify = false            // … and are not read when written
	h.start()
	h.waitFor(2)
	time.Sleep(200 * time.Millisecond)
	appendLines(t, p, "lost-1", "lost-2", "lost-3") // 21 bytes
	copyTruncate(t, p, p+".1")
	time.Sleep(3 * time.Second)
	appendLines(t, p, "new-1")
	rs := h.waitFor(3)
	if rs[2].msg != "new-1" {
		t.Fatalf("after the truncation got %v, want new-1 third", rs)
	}
	if files, bytes := truncatedCounts(h); files != 1 || bytes != 21 {
		t.Errorf("undrained{truncated}: files %v bytes %v, want 1 and 21 (the lines written after the last read)", files, bytes)
	}
	// Everything read this time: a second copytruncate loses nothing.
	time.Sleep(1500 * time.Millisecond)
	copyTruncate(t, p, p+".2")
	time.Sleep(3 * time.Second)
	h.stop()
	if files, bytes := truncatedCounts(h); files != 1 || bytes != 21 {
		t.Errorf("after a lossless copytruncate: files %v bytes %v, want still 1 and 21", files, bytes)
	}
}

package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProcSignalResumesOnlyFrozen: Stop sends SIGTERM alone to a running
// process (Fluent Bit dumps its engine state on a SIGCONT, racing its own
// shutdown), and a SIGCONT after it only to a process Freeze stopped, which
// could not handle the SIGTERM otherwise.
func TestProcSignalResumesOnlyFrozen(t *testing.T) {
	dir := t.TempDir()
	// The TERM trap only ends the loop, so a CONT sent with it has its
	// trap run too before the shell exits.
	script := `trap 'echo got CONT' CONT; trap 'echo got TERM; term=1' TERM; echo started; while [ -z "$term" ]; do sleep 0.05; done; sleep 0.2`
	// A frozen process must be resumed to handle the SIGTERM at all (else
	// Stop kills it after 30 s and fails); the CONT that resumes it may
	// reach the shell before or after it stopped, so only the running
	// process's log is held to "no CONT".
	f := func(freeze bool) {
		t.Helper()
		p := &Proc{Name: "sh", Bin: "sh", Args: []string{"-c", script}, LogPath: filepath.Join(dir, "sh.log")}
		_ = os.Remove(p.LogPath)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitReady(10*time.Second, func() error {
			if !strings.Contains(p.Tail(5), "started") {
				return os.ErrNotExist
			}
			return nil
		}, p.LogPath); err != nil {
			t.Fatal(err)
		}
		if freeze {
			if err := p.Freeze(); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Stop(); err != nil {
			t.Fatalf("freeze %v: stop: %v\n%s", freeze, err, p.Tail(5))
		}
		out, _ := os.ReadFile(p.LogPath)
		if !strings.Contains(string(out), "got TERM") || (!freeze && strings.Contains(string(out), "got CONT")) {
			t.Errorf("freeze %v: log %q, want TERM handled (and no CONT unless frozen)", freeze, out)
		}
	}
	f(false)
	f(true)
}

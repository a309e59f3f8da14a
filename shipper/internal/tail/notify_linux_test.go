//go:build linux

package tail

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A line written to a followed file is read when it is written, not at the
// next poll: with a 30 s poll, each of five lines written 300 ms apart
// arrives within a second, also after the file was renamed (the watch is
// on the open file, not on its name).
func TestWrittenLineIsReadBeforeThePoll(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendLines(t, p, `{"msg":"first"}`)
	h := newHarness(t, filepath.Join(dir, "cp"), filepath.Join(dir, "*.log"))
	h.cfg.PollInterval = 30 * time.Second
	h.start()
	defer h.stop()
	deadline := func(n int) {
		t.Helper()
		until := time.Now().Add(time.Second)
		for len(h.kafka.records()) < n {
			if time.Now().After(until) {
				t.Fatalf("line %d not read within 1s of its write (poll 30s): got %d records", n, len(h.kafka.records()))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	deadline(1) // the first scan reads it
	for i := 2; i <= 5; i++ {
		time.Sleep(300 * time.Millisecond) // the follower waits at the end of the file
		if i == 4 {
			q := filepath.Join(dir, "b.log") // still matched: no drain, the follower goes on
			if err := os.Rename(p, q); err != nil {
				t.Fatal(err)
			}
			p = q
		}
		appendLines(t, p, `{"msg":"next"}`)
		deadline(i)
	}
}

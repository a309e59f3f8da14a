package harness

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// VmHWM is the peak resident set size of process pid so far (VmHWM in
// /proc/<pid>/status), in bytes; 0 when it cannot be read (gone, not
// Linux). Unlike a sampled RSS it misses no short peak. ru_maxrss of a
// child cannot stand in for it: Go starts children with
// clone(CLONE_VM|CLONE_VFORK), so the high-water mark carried over exec is
// the parent's own RSS.
func VmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Pid is the process id of the current run (0 when not running).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	select {
	case <-p.done:
		return 0
	default:
		return p.cmd.Process.Pid
	}
}

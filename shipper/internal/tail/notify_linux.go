//go:build linux

package tail

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// notifier wakes followers when their file is written (inotify), so a
// follower at the end of its file reads a new line at once instead of at
// its next poll: the poll interval (250ms by default) was most of the
// shipper's share of write-to-searchable latency. Events only shorten
// waits: the poll stays, so a lost or overflowed event, a watch refused at
// the user's inotify limit, or a filesystem without inotify (NFS, some FUSE
// mounts) costs latency, never data.
type notifier struct {
	f  *os.File // non-blocking, so Close ends the pending Read
	fd int      // f's descriptor, for adding and removing watches
	mu sync.Mutex
	wd map[int32]chan struct{}
}

func newNotifier() (*notifier, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	n := &notifier{f: os.NewFile(uintptr(fd), "inotify"), fd: fd, wd: map[int32]chan struct{}{}}
	go n.run()
	return n, nil
}

// watch returns a channel that receives after file was written, and the
// function that stops watching. A nil notifier, or a watch the kernel
// refuses, gives a nil channel (never ready: the follower polls).
func (n *notifier) watch(file *os.File) (<-chan struct{}, func(), error) {
	if n == nil {
		return nil, func() {}, nil
	}
	rc, err := file.SyscallConn()
	if err != nil {
		return nil, func() {}, fmt.Errorf("inotify watch: %w", err)
	}
	var wd int
	var werr error
	if err := rc.Control(func(fd uintptr) {
		// The open file, wherever it was renamed to since.
		wd, werr = unix.InotifyAddWatch(n.fd, fmt.Sprintf("/proc/self/fd/%d", fd), unix.IN_MODIFY)
	}); err != nil {
		return nil, func() {}, fmt.Errorf("inotify watch: %w", err)
	}
	if werr != nil {
		return nil, func() {}, fmt.Errorf("inotify watch: %w", werr)
	}
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	n.wd[int32(wd)] = ch
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		if n.wd[int32(wd)] == ch {
			delete(n.wd, int32(wd))
			_, _ = unix.InotifyRmWatch(n.fd, uint32(wd)) // gone already when the file was deleted
		}
		n.mu.Unlock()
	}, nil
}

// run hands each event to its watcher until the notifier is closed.
func (n *notifier) run() {
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		k, err := n.f.Read(buf)
		if err != nil {
			return // closed
		}
		for off := 0; off+unix.SizeofInotifyEvent <= k; {
			wd := int32(binary.NativeEndian.Uint32(buf[off:]))
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			off += unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(buf[off+12:]))
			n.mu.Lock()
			if mask&unix.IN_Q_OVERFLOW != 0 { // events were lost: wake everyone
				for _, ch := range n.wd {
					wake(ch)
				}
			} else if ch := n.wd[wd]; ch != nil {
				wake(ch)
			}
			n.mu.Unlock()
		}
	}
}

// wake leaves one pending wake on ch.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // one is pending already
	}
}

func (n *notifier) close() {
	if n != nil {
		n.f.Close()
	}
}

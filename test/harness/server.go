package harness

import (
	"os"
	"syscall"
	"time"
)

// server is what every private server (a Kafka broker, an Elasticsearch
// node) is made of: its process and its directory, with the one way to
// stop, crash and remove it.
type server struct {
	dir      string
	p        *Proc
	stopWait time.Duration // how long a SIGTERM may take before SIGKILL
}

// Dir is the server's directory (a broker: server.properties, data/,
// logs/server.log; a node: config/, data/, logs/).
func (s *server) Dir() string { return s.dir }

// Stop shuts the server down with SIGTERM (a controlled shutdown) and waits
// for it to exit, killing it after the server's stop wait (30 s for a
// broker, 60 s for a node).
func (s *server) Stop() {
	if s.p != nil {
		_ = s.p.Signal(syscall.SIGTERM, s.stopWait)
	}
}

// Running reports whether the server's process is alive.
func (s *server) Running() bool { return s.p != nil && s.p.Running() }

// Freeze stops the server with SIGSTOP (Proc.Freeze); a test must Thaw it
// (Close also ends a frozen server).
func (s *server) Freeze() error { return s.p.Freeze() }

// Thaw resumes a frozen server.
func (s *server) Thaw() error { return s.p.Thaw() }

// Kill ends the server with SIGKILL: a crash, no controlled shutdown.
func (s *server) Kill() {
	if s.p != nil {
		s.p.Kill()
	}
}

// Close kills the server and removes its directory; safe to call twice.
func (s *server) Close() {
	s.Kill()
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

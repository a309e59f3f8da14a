// Package tail follows log files for the shipper: it finds them by glob,
// identifies each by device and inode (so a renamed file is never read
// twice), reads new lines as they are written, detects rotation by rename
// and by copytruncate, and advances a checkpoint per file only as far as
// Kafka acknowledged every record before it.
//
// event.id source of a file record: host | dev:inode | generation, position
// = byte offset of the line (see publish.EventID). Re-reading after a crash
// yields the same ids; a truncated or reused file gets a new generation
// from the checkpoint store's counter, which never repeats.
package tail

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/agentobs/agentobs/internal/record"
)

// Start positions for files without a checkpoint.
const (
	StartBeginning = "beginning"
	StartEnd       = "end"
)

// Config is what files to tail and how.
type Config struct {
	// Include are glob patterns of files to tail. Default none (no file input).
	Include []string `yaml:"include"`
	// Exclude are glob patterns matched against the full path and the base
	// name of included files. Default none.
	Exclude []string `yaml:"exclude"`
	// Format is auto, json, docker, cri or text. Default auto.
	Format string `yaml:"format"`
	// StartAt is where files found at start-up without a checkpoint begin:
	// "beginning" (default) or "end". Files that appear while running are
	// always read from the beginning (they are new, e.g. after a rotation).
	StartAt string `yaml:"start_at"`
	// PollInterval is how often files are re-globbed and idle files checked
	// for new data, rotation and truncation. Default 250ms.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Inotify wakes a follower at the end of its file when the file is
	// written, instead of at its next poll (Linux). Default true; the poll
	// stays either way.
	Inotify bool `yaml:"inotify"`
	// CheckpointDir holds the checkpoint file. Default /var/lib/agentobs-shipper.
	CheckpointDir string `yaml:"checkpoint_dir"`
	// CheckpointInterval is how often acknowledged positions are written.
	// Default 1s. The final positions are written at shutdown.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// MaxLineBytes cuts longer lines (the rest is skipped, counted as
	// too_long). Default 1 MiB.
	MaxLineBytes int `yaml:"max_line_bytes"`
	// BatchRecords and BatchBytes bound one batch. Default 500 and 1 MiB.
	BatchRecords int `yaml:"batch_records"`
	BatchBytes   int `yaml:"batch_bytes"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{Format: "auto", StartAt: StartBeginning, PollInterval: 250 * time.Millisecond, Inotify: true,
		CheckpointDir: "/var/lib/agentobs-shipper", CheckpointInterval: time.Second,
		MaxLineBytes: record.DefaultMaxLineBytes, BatchRecords: 500, BatchBytes: 1 << 20}
}

// Validate reports every problem, naming the flag.
func (c Config) Validate() error {
	var errs []error
	for _, p := range append(append([]string{}, c.Include...), c.Exclude...) {
		if _, err := filepath.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("files.include/exclude: bad glob %q: %w", p, err))
		}
	}
	if _, err := record.ParseFormat(c.Format); err != nil {
		errs = append(errs, fmt.Errorf("files.format: %w", err))
	}
	if c.StartAt != StartBeginning && c.StartAt != StartEnd {
		errs = append(errs, fmt.Errorf("files.start-at: %q, want beginning or end", c.StartAt))
	}
	if c.PollInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("files.poll-interval: %s, want >= 10ms", c.PollInterval))
	}
	if len(c.Include) > 0 && c.CheckpointDir == "" {
		errs = append(errs, errors.New("files.checkpoint-dir: required when files.include is set"))
	}
	if c.CheckpointInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("files.checkpoint-interval: %s, want >= 10ms", c.CheckpointInterval))
	}
	if c.MaxLineBytes < 1024 {
		errs = append(errs, fmt.Errorf("files.max-line-bytes: %d, want >= 1024", c.MaxLineBytes))
	}
	if c.BatchRecords < 1 || c.BatchBytes < 1024 {
		errs = append(errs, fmt.Errorf("files.batch-records/-bytes: %d/%d, want >= 1 / >= 1024", c.BatchRecords, c.BatchBytes))
	}
	return errors.Join(errs...)
}

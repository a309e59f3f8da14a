// Package checkpoint persists how far each tailed file has been delivered,
// so a restarted shipper resumes where Kafka's acknowledgements ended: the
// at-least-once half of the shipper's guarantee (the deterministic event.id
// is the other half, turning re-reads into duplicates the indexer drops).
//
// The state is one JSON file written atomically: a temporary file in the
// same directory, fsync, rename over the old one, fsync of the directory.
// A crash at any moment leaves either the old or the new state, never a
// torn one.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// FileName is the state file inside the checkpoint directory.
const FileName = "checkpoints.json"

// Entry is the delivered position of one file generation.
type Entry struct {
	// Path is where the file was last seen (informational: files are
	// identified by Dev and Inode, so a renamed file keeps its entry).
	Path  string `json:"path"`
	Dev   uint64 `json:"dev"`
	Inode uint64 `json:"inode"`
	// Fingerprint is a hash of the file's first FingerprintLen bytes. A
	// file whose head no longer matches is a different file (inode reuse)
	// or was truncated and rewritten while the shipper was stopped.
	Fingerprint    string `json:"fingerprint"`
	FingerprintLen int    `json:"fingerprint_len"`
	// Generation is part of the event.id source. It comes from the store's
	// counter, which never repeats, so a truncated file or a reused inode
	// never produces the ids of an earlier life.
	Generation uint64 `json:"generation"`
	// Offset is the byte position up to which every record was
	// acknowledged by Kafka; Records is how many records precede it in this
	// generation (the next record's producer sequence is Records+1).
	Offset  int64  `json:"offset"`
	Records uint64 `json:"records"`
	// Size is the largest size the file was seen with. Size > Offset means
	// bytes known to be unread: if the file cannot be found again after a
	// restart, that much is reported lost instead of forgotten.
	Size int64 `json:"size,omitempty"`
}

// Key identifies a file on this host.
func Key(dev, ino uint64) string { return fmt.Sprintf("%d:%d", dev, ino) }

// Key is the entry's identity key.
func (e Entry) Key() string { return Key(e.Dev, e.Inode) }

type state struct {
	Version        int     `json:"version"`
	NextGeneration uint64  `json:"next_generation"`
	Files          []Entry `json:"files"`
}

// Store holds the entries in memory and writes them on Save. Safe for
// concurrent use.
type Store struct {
	dir     string
	mu      sync.Mutex
	files   map[string]Entry
	nextGen uint64
	dirty   bool
	saveMu  sync.Mutex // one writer of the file at a time
}

// Open loads the state from dir, creating dir if needed. A missing state
// file is an empty state.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("checkpoint dir: %w", err)
	}
	s := &Store{dir: dir, files: map[string]Entry{}, nextGen: 1}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("checkpoint file %s is corrupt (remove it to re-read all files from the start): %w",
			filepath.Join(dir, FileName), err)
	}
	for _, e := range st.Files {
		s.files[e.Key()] = e
		if e.Generation >= s.nextGen {
			s.nextGen = e.Generation + 1
		}
	}
	if st.NextGeneration > s.nextGen {
		s.nextGen = st.NextGeneration
	}
	return s, nil
}

// Get returns the entry of a file identity.
func (s *Store) Get(key string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.files[key]
	return e, ok
}

// NewGeneration hands out a generation number never handed out before by
// this store (persisted with the next Save).
func (s *Store) NewGeneration() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.nextGen
	s.nextGen++
	s.dirty = true
	return g
}

// Put stores e (replacing the entry of the same identity).
func (s *Store) Put(e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[e.Key()] = e
	s.dirty = true
}

// Advance moves the entry of key forward to offset/records, only if the
// entry still has generation gen (acks of an old generation arriving after
// a truncation must not move the new one).
func (s *Store) Advance(key string, gen uint64, offset int64, records uint64, fp string, fpLen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.files[key]
	if !ok || e.Generation != gen || offset < e.Offset {
		return
	}
	e.Offset, e.Records = offset, records
	if fpLen > e.FingerprintLen {
		e.Fingerprint, e.FingerprintLen = fp, fpLen
	}
	s.files[key] = e
	s.dirty = true
}

// SeenSize records the file's current size on the entry of key if it is
// larger than what was seen before and the entry still has generation gen.
// It does not force a write: the size travels with the next Save.
func (s *Store) SeenSize(key string, gen uint64, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.files[key]
	if !ok || e.Generation != gen || size <= e.Size {
		return
	}
	e.Size = size
	s.files[key] = e
}

// Delete forgets a file (it is gone and fully delivered).
func (s *Store) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.files[key]; ok {
		delete(s.files, key)
		s.dirty = true
	}
}

// Entries returns a copy of every entry, sorted by key.
func (s *Store) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, 0, len(s.files))
	for _, e := range s.files {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// Save writes the state if it changed since the last Save (force: always).
func (s *Store) Save(force bool) error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	if !s.dirty && !force {
		s.mu.Unlock()
		return nil
	}
	st := state{Version: 1, NextGeneration: s.nextGen}
	for _, e := range s.files {
		st.Files = append(st.Files, e)
	}
	s.dirty = false
	s.mu.Unlock()
	sort.Slice(st.Files, func(i, j int) bool { return st.Files[i].Key() < st.Files[j].Key() })
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := WriteAtomic(filepath.Join(s.dir, FileName), b); err != nil {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		return err
	}
	return nil
}

// WriteAtomic replaces path with data so that a crash leaves either the old
// or the new content: write a temporary file, fsync it, rename it over
// path, fsync the directory (the rename itself is only durable then).
func WriteAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("checkpoint temp file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("fsync checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close checkpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename checkpoint: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open checkpoint dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync checkpoint dir: %w", err)
	}
	return nil
}

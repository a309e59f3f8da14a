package checkpoint

import (
	"os"
	"path/filepath"
	"testing"
)

func TestProgressContiguousAcks(t *testing.T) {
	p := NewProgress(100, 10)
	a := p.Add(200, 20)
	b := p.Add(300, 30)
	c := p.Add(400, 40)
	f := func(m *Mark, wantOff int64, wantRec uint64, wantAdv bool) {
		t.Helper()
		off, rec, adv := p.Done(m)
		if off != wantOff || rec != wantRec || adv != wantAdv {
			t.Fatalf("Done(%d) = %d,%d,%v; want %d,%d,%v", m.Offset, off, rec, adv, wantOff, wantRec, wantAdv)
		}
	}
	f(b, 100, 10, false) // b before a: the checkpoint must not jump over a
	f(c, 100, 10, false)
	f(a, 400, 40, true) // a completes the prefix: everything up to c
	if _, _, out := p.Acked(); out != 0 {
		t.Fatalf("outstanding = %d", out)
	}
}

func TestStoreRoundTripAndGenerations(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	g1, g2 := s.NewGeneration(), s.NewGeneration()
	if g1 == g2 {
		t.Fatal("generations repeat")
	}
	s.Put(Entry{Path: "/a", Dev: 1, Inode: 2, Generation: g2})
	s.Advance(Key(1, 2), g2, 50, 5, "fp", 50)
	s.Advance(Key(1, 2), g1, 90, 9, "x", 90) // stale generation: ignored
	s.Advance(Key(1, 2), g2, 40, 4, "x", 90) // backwards: ignored
	if err := s.Save(false); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := s2.Get(Key(1, 2))
	if !ok || e.Offset != 50 || e.Records != 5 || e.Fingerprint != "fp" || e.Generation != g2 {
		t.Fatalf("reloaded %+v %v", e, ok)
	}
	// Generations keep counting after a restart, also past deleted entries.
	s2.Delete(Key(1, 2))
	if g := s2.NewGeneration(); g <= g2 {
		t.Fatalf("generation %d after restart, want > %d", g, g2)
	}
}

// A crash in the middle of a write leaves the old state: only complete
// temp files are renamed over the state file, and stray temp files are
// ignored on load.
func TestWriteAtomicLeavesOldOrNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := WriteAtomic(path, []byte(`{"version":1,"next_generation":7}`)); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash after writing half of a temp file.
	if err := os.WriteFile(filepath.Join(dir, "."+FileName+".tmp-123"), []byte(`{"vers`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if g := s.NewGeneration(); g != 7 {
		t.Fatalf("generation %d, want 7 from the intact state", g)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != FileName && e.Name() != "."+FileName+".tmp-123" {
			t.Errorf("unexpected file %s", e.Name())
		}
	}
	// A corrupt state file is an error naming the fix, not a silent reset.
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil {
		t.Fatal("corrupt checkpoint accepted")
	}
}

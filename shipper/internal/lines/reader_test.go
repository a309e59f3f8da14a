package lines

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, r *Reader) []Line {
	t.Helper()
	var out []Line
	for {
		l, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		l.Data = append([]byte(nil), l.Data...)
		out = append(out, l)
	}
	if l, ok := r.Final(); ok {
		out = append(out, l)
	}
	return out
}

func TestReaderOffsetsAndLongLines(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	in := "a\n\nbc\n" + long + "\nd\ntail"
	r := NewReader(iotestOneByteish(strings.NewReader(in)), 10, 16)
	got := readAll(t, r)
	want := []struct {
		data       string
		start, end int64
		trunc      bool
		orig       int64
	}{
		{"a", 10, 12, false, 0},
		{"", 12, 13, false, 0},
		{"bc", 13, 16, false, 0},
		{long[:16], 16, 16 + 100_001, true, 100_000},
		{"d", 16 + 100_001, 16 + 100_003, false, 0},
		{"tail", 16 + 100_003, 16 + 100_007, false, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if string(g.Data) != w.data || g.Start != w.start || g.End != w.end || g.Truncated != w.trunc || g.Original != w.orig {
			t.Errorf("line %d = {%q %d %d %v %d}, want %+v", i, g.Data, g.Start, g.End, g.Truncated, g.Original, w)
		}
	}
}

// A file being written: an incomplete line waits for its newline.
func TestReaderFollowsGrowingInput(t *testing.T) {
	var src bytes.Buffer
	r := NewReader(&src, 0, 1024)
	src.WriteString("one\ntw")
	l, err := r.Next()
	if err != nil || string(l.Data) != "one" {
		t.Fatalf("first = %q, %v", l.Data, err)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("want EOF with a partial line, got %v", err)
	}
	if r.Offset() != 4 || r.ReadPos() != 6 || !r.Buffered() {
		t.Fatalf("offset %d readpos %d buffered %v", r.Offset(), r.ReadPos(), r.Buffered())
	}
	src.WriteString("o\n")
	l, err = r.Next()
	if err != nil || string(l.Data) != "two" || l.Start != 4 || l.End != 8 {
		t.Fatalf("second = %q %d-%d, %v", l.Data, l.Start, l.End, err)
	}
}

func TestClassify(t *testing.T) {
	f := func(data string, trunc bool, want string) {
		t.Helper()
		if got := Classify(Line{Data: []byte(data), Truncated: trunc}); got != want {
			t.Errorf("Classify(%q) = %q, want %q", data, got, want)
		}
	}
	f("hello", false, "")
	f(`{"a":1}`, false, "")
	f("   \t", false, KindEmpty)
	f("", false, KindEmpty)
	f("x", true, KindTooLong)
	f("ab\x00cd", false, KindBinary)
	f("\x01\x02\x03\x04abc", false, KindBinary)
	f("caf\xe9", false, KindInvalidUTF8)
	f("\x1b[31mred\x1b[0m", false, "")
}

// iotestOneByteish returns small reads to exercise buffer boundaries.
func iotestOneByteish(r io.Reader) io.Reader { return &smallReader{r} }

type smallReader struct{ r io.Reader }

func (s *smallReader) Read(p []byte) (int, error) {
	if len(p) > 7 {
		p = p[:7]
	}
	return s.r.Read(p)
}

// Package lines splits a byte stream (a tailed file, stdin) into lines with
// their byte offsets, bounding memory per line: a line longer than the limit
// is cut to its first max bytes and the rest is skipped without buffering it.
// Offsets are what the shipper's event.id and checkpoints are built on, so the
// reader never loses track of them, not even inside a skipped 10 MiB line.
package lines

import (
	"bytes"
	"io"
)

// Line is one line of input, without its newline.
type Line struct {
	// Data is the line, at most the reader's max bytes; valid until the
	// next call to Next or Final.
	Data []byte
	// Start is the offset of the line's first byte; End the offset after
	// its newline (the position to resume from).
	Start, End int64
	// Truncated is set when the line was longer than max; Original is its
	// full length then (without the newline).
	Truncated bool
	Original  int64
}

// Reader reads lines from r. It is not safe for concurrent use.
type Reader struct {
	r          io.Reader
	max        int
	buf        []byte
	start, end int   // buf[start:end] is read but not yet returned
	off        int64 // offset of buf[start]

	// A line over max: its first max bytes, where it began and how long it
	// is so far; the rest is discarded as it arrives.
	long      []byte
	longStart int64
	longLen   int64
	inLong    bool
}

// NewReader returns a reader starting at offset off (the position r is at),
// returning lines of at most max bytes.
func NewReader(r io.Reader, off int64, max int) *Reader {
	if max < 1 {
		max = 1
	}
	size := 64 << 10
	if size > max+1 {
		size = max + 1
	}
	return &Reader{r: r, max: max, buf: make([]byte, size), off: off}
}

// Offset is the position after the last line returned: where a restart
// resumes. Buffered bytes of an incomplete line are after it.
func (r *Reader) Offset() int64 {
	if r.inLong {
		return r.longStart
	}
	return r.off
}

// ReadPos is the position up to which the underlying reader was consumed.
func (r *Reader) ReadPos() int64 { return r.off + int64(r.end-r.start) }

// Buffered reports whether an incomplete line is pending (no newline yet).
func (r *Reader) Buffered() bool { return r.inLong || r.end > r.start }

// Next returns the next complete line. When the input has no complete line
// left it returns the read error (io.EOF at the end of a file); a trailing
// incomplete line stays buffered, and a later call continues it, so a file
// that is still being written is followed line by line.
func (r *Reader) Next() (Line, error) {
	for {
		if i := bytes.IndexByte(r.buf[r.start:r.end], '\n'); i >= 0 {
			return r.take(i, 1), nil
		}
		if r.inLong {
			r.longLen += int64(r.end - r.start)
			r.off += int64(r.end - r.start)
			r.start, r.end = 0, 0
		} else if r.end-r.start >= r.max {
			r.long = append(r.long[:0], r.buf[r.start:r.start+r.max]...)
			r.inLong, r.longStart, r.longLen = true, r.off, int64(r.end-r.start)
			r.off += int64(r.end - r.start)
			r.start, r.end = 0, 0
		} else if r.end == len(r.buf) {
			if r.start > 0 {
				r.end = copy(r.buf, r.buf[r.start:r.end])
				r.start = 0
			} else {
				grown := make([]byte, min(2*len(r.buf), r.max+1))
				r.end = copy(grown, r.buf[r.start:r.end])
				r.start, r.buf = 0, grown
			}
		}
		n, err := r.r.Read(r.buf[r.end:])
		r.end += n
		if n == 0 && err != nil {
			return Line{}, err
		}
	}
}

// take returns buf[start:start+i] as a line followed by nl newline bytes.
func (r *Reader) take(i, nl int) Line {
	var l Line
	if r.inLong {
		l = Line{Data: r.long, Start: r.longStart, Truncated: true, Original: r.longLen + int64(i)}
		r.inLong = false
	} else {
		data := r.buf[r.start : r.start+i]
		l = Line{Data: data, Start: r.off}
		if len(data) > r.max {
			l.Data, l.Truncated, l.Original = data[:r.max], true, int64(len(data))
		}
	}
	r.start += i + nl
	r.off += int64(i + nl)
	l.End = r.off
	if r.start == r.end {
		r.start, r.end = 0, 0
	}
	return l
}

// Final returns the buffered incomplete line as a last line (the input
// ended without a newline: stdin closed, a rotated file fully drained).
// ok is false when nothing was buffered.
func (r *Reader) Final() (Line, bool) {
	if !r.Buffered() {
		return Line{}, false
	}
	return r.take(r.end-r.start, 0), true
}

package record

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// appendStringRef is appendString as it was written first, byte by byte:
// the definition the word-at-a-time version is held to.
func appendStringRef(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func checkAppendString(t *testing.T, s string) {
	t.Helper()
	if got, want := appendString([]byte("x"), s), appendStringRef([]byte("x"), s); !bytes.Equal(got, want) {
		t.Fatalf("appendString(%q) = %q, want %q", s, got, want)
	}
}

// TestAppendStringWords checks the word-at-a-time escaper byte for byte
// against the plain one, with every special byte at every offset of a word.
func TestAppendStringWords(t *testing.T) {
	specials := []string{"\"", "\\", "\n", "\r", "\t", "\x00", "\x1f", "\x20", "\x7f", "\x80", "\xff", "é", "\u2028",
		"\u2029", "\xe2\x80", "🙂", "!", "#", "[", "]", "|", "\x21", "\x5b", "\x5d"}
	for n := 0; n <= 24; n++ {
		for pos := 0; pos < n; pos++ {
			for _, sp := range specials {
				b := bytes.Repeat([]byte("a"), n)
				checkAppendString(t, string(b[:pos])+sp+string(b[pos:]))
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var b []byte
	for range 100000 {
		b = b[:0]
		for range rng.IntN(40) {
			if rng.IntN(4) == 0 {
				b = append(b, byte(rng.IntN(256)))
			} else {
				b = append(b, byte(0x20+rng.IntN(0x60)))
			}
		}
		checkAppendString(t, string(b))
	}
	for c := range 256 {
		checkAppendString(t, string(bytes.Repeat([]byte{byte(c)}, 17)))
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"plain ascii text of some length", "q\"b\\n\n\x01", "é\u2028\xff🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAppendString(t, s)
		if out := appendString(nil, s); !utf8.Valid(out) {
			t.Fatalf("invalid UTF-8 out of %q", s)
		}
	})
}

package record

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// appendStringRef is the definition appendString is held to, rune by rune
// (RFC 8259 section 7 as the encoder applies it): quote and backslash
// escaped, \n \r \t short, every other byte below 0x20 as \u00XX, U+2028
// and U+2029 escaped (JavaScript line terminators), each invalid byte as
// U+FFFD, everything else as it is.
func appendStringRef(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, "\uFFFD"...)
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r < 0x20, r == '\u2028', r == '\u2029':
			dst = fmt.Appendf(dst, `\u%04x`, r)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

func checkAppendString(t *testing.T, s string) {
	t.Helper()
	if got, want := appendString([]byte("x"), s), appendStringRef([]byte("x"), s); !bytes.Equal(got, want) {
		t.Fatalf("appendString(%q) = %q, want %q", s, got, want)
	}
}

// TestAppendStringWords checks the word-at-a-time escaper byte for byte
// against its definition, with every special byte at every offset of a word.
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

// TestAppendStringLongMixed runs appendString against its reference over
// long strings with an escape, a control byte or a multi-byte rune at every
// position, so the 32-byte step (textscan.Plain) hands over to the word and
// byte steps at each place in a block.
func TestAppendStringLongMixed(t *testing.T) {
	for _, odd := range []string{`"`, `\`, "\n", "\x01", "\x7f", "é", "\u2028", "\xff"} {
		for n := 32; n <= 80; n++ {
			for pos := 0; pos+len(odd) <= n; pos++ {
				s := strings.Repeat("x", pos) + odd + strings.Repeat("y", n-pos-len(odd))
				checkAppendString(t, s)
			}
		}
	}
}

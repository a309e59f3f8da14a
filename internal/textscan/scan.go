// Package textscan holds the byte scans every record passes through, many
// bytes a step: how far a string needs no JSON escaping (Plain) or holds no
// control byte (NoControl), whether bytes are valid UTF-8 (ValidUTF8), and
// where one of the redaction rules' literals may start (Trigrams). Where
// the processor has AVX2 (amd64) they look at 32 bytes a step; elsewhere
// the callers' word-at-a-time loops and the standard library do the work.
// A log record is mostly long runs of plain ASCII (a message, a prompt, a
// stack trace), and these scans were a fifth of the plugin's Go-side CPU a
// byte or a word at a time.
package textscan

import (
	"unicode/utf8"
	"unsafe"
)

// Plain returns how many leading bytes of s are plain, looking at whole
// 32-byte blocks only: the index of the first byte that is not when a
// whole block holds it, else where fewer than 32 bytes are left (0 for a
// short s, and always 0 without a vector version). A byte is plain when
// 0x20 <= c < 0x80 and c is neither '"' nor '\\': what JSON writes as is.
// The caller goes on from there a word at a time.
func Plain(s string) int {
	if !useAVX2 || len(s) < 32 {
		return 0
	}
	return plainAVX2(unsafe.StringData(s), len(s))
}

// ValidUTF8 is utf8.Valid, with the leading ASCII run checked 32 bytes a
// step first.
func ValidUTF8(b []byte) bool {
	n := 0
	if useAVX2 && len(b) >= 32 {
		n = asciiAVX2(unsafe.SliceData(b), len(b))
	}
	return utf8.Valid(b[n:])
}

// NoControl returns how many leading bytes of s are not control bytes
// (below 0x20), looking at whole 32-byte blocks only, as Plain does: the
// index of the first control byte when a whole block holds it, else where
// fewer than 32 bytes are left (0 for a short s, and always 0 without a
// vector version). Bytes from 0x80 are not control bytes here.
func NoControl(s string) int {
	if !useAVX2 || len(s) < 32 {
		return 0
	}
	return noControlAVX2(unsafe.StringData(s), len(s))
}

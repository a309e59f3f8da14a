package textscan

import "golang.org/x/sys/cpu"

// useAVX2: the vector scans may run (the processor has AVX2, and the
// operating system saves its registers, which cpu checks too).
var useAVX2 = cpu.X86.HasAVX2

// plainAVX2 is Plain's scan over p[:n], n >= 32 (scan_amd64.s).
//
//go:noescape
func plainAVX2(p *byte, n int) int

// asciiAVX2 returns the index of the first byte >= 0x80 of p[:n] when a
// whole 32-byte block holds it, else where fewer than 32 bytes are left;
// n >= 32 (scan_amd64.s).
//
//go:noescape
func asciiAVX2(p *byte, n int) int

// trigramsAVX2 is Trigrams.Next over p[:n] from position 0, n >= 34
// (scan_amd64.s).
//
//go:noescape
func trigramsAVX2(p *byte, n int, t *[6][32]byte) int

// noControlAVX2 is NoControl's scan over p[:n], n >= 32 (scan_amd64.s).
//
//go:noescape
func noControlAVX2(p *byte, n int) int

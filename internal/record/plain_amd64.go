package record

import "golang.org/x/sys/cpu"

// useAVX2: plainBlocksAVX2 may run (the processor has AVX2, and the
// operating system saves its registers, which cpu checks too).
var useAVX2 = cpu.X86.HasAVX2

// plainBlocks returns how many leading bytes of s are plain: safeASCII
// (plainWord's bytes), looking at whole 32-byte blocks only: the index of
// the first byte that is not plain when a whole block holds it, else where
// fewer than 32 bytes are left (0 for a short s); the caller goes on from
// there a word at a time. A long string field (a prompt, a stack trace, a
// padded message) is most of a record's bytes, and this is most of
// appendString's time on them.
func plainBlocks(s string) int {
	if !useAVX2 || len(s) < 32 {
		return 0
	}
	return plainBlocksAVX2(s)
}

// plainBlocksAVX2 is plainBlocks in AVX2 (plain_amd64.s): 32 bytes a step.
//
//go:noescape
func plainBlocksAVX2(s string) int

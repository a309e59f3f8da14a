#include "textflag.h"

// func plainAVX2(p *byte, n int) int
//
// A byte c is plain when 0x20 <= c < 0x80 and c is neither '"' nor '\\'.
// Compared as signed bytes, c > 0x1f holds exactly for 0x20..0x7f (bytes
// from 0x80 are negative), so one compare covers both bounds. Returns the
// index of the first byte that is not plain if one is in a whole 32-byte
// block, else the offset where fewer than 32 bytes are left.
TEXT ·plainAVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	XORQ AX, AX
	MOVL $0x1f, DX
	MOVQ DX, X1
	VPBROADCASTB X1, Y1
	MOVL $0x22, DX
	MOVQ DX, X2
	VPBROADCASTB X2, Y2
	MOVL $0x5c, DX
	MOVQ DX, X3
	VPBROADCASTB X3, Y3
	SUBQ $32, CX

plainloop:
	CMPQ AX, CX
	JG   plaindone
	VMOVDQU   (SI)(AX*1), Y0
	VPCMPGTB  Y1, Y0, Y4 // 0xff where c > 0x1f as signed bytes: 0x20..0x7f
	VPCMPEQB  Y2, Y0, Y5 // 0xff where c == '"'
	VPCMPEQB  Y3, Y0, Y6 // 0xff where c == '\\'
	VPOR      Y5, Y6, Y5
	VPANDN    Y4, Y5, Y7 // ^Y5 & Y4: 0xff where plain
	VPMOVMSKB Y7, DX
	NOTL      DX
	TESTL     DX, DX
	JNZ       plainfound
	ADDQ      $32, AX
	JMP       plainloop

plainfound:
	BSFL DX, DX
	ADDQ DX, AX

plaindone:
	VZEROUPPER
	MOVQ AX, ret+16(FP)
	RET

// func asciiAVX2(p *byte, n int) int
//
// A byte's top bit is the bit VPMOVMSKB gathers: a block is ASCII when the
// mask is zero.
TEXT ·asciiAVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	XORQ AX, AX
	SUBQ $32, CX

asciiloop:
	CMPQ AX, CX
	JG   asciidone
	VMOVDQU   (SI)(AX*1), Y0
	VPMOVMSKB Y0, DX
	TESTL     DX, DX
	JNZ       asciifound
	ADDQ      $32, AX
	JMP       asciiloop

asciifound:
	BSFL DX, DX
	ADDQ DX, AX

asciidone:
	VZEROUPPER
	MOVQ AX, ret+16(FP)
	RET

// func trigramsAVX2(p *byte, n int, t *[6][32]byte) int
//
// For 32 positions at a time: the bytes at each position, one after and
// two after are folded (|0x20) and split into halves; each half picks its
// bucket bits from its table (VPSHUFB), and a position passes when the six
// lookups share a bit. Returns the first passing position, or the first
// position past n-34 (where the loads at +1 and +2 would run past p[:n]).
TEXT ·trigramsAVX2(SB), NOSPLIT, $0-32
	MOVQ    p+0(FP), SI
	MOVQ    n+8(FP), CX
	MOVQ    t+16(FP), DI
	XORQ    AX, AX
	VMOVDQU 0(DI), Y8    // lo0
	VMOVDQU 32(DI), Y9   // hi0
	VMOVDQU 64(DI), Y10  // lo1
	VMOVDQU 96(DI), Y11  // hi1
	VMOVDQU 128(DI), Y12 // lo2
	VMOVDQU 160(DI), Y13 // hi2
	MOVL    $0x0f, DX
	MOVQ    DX, X14
	VPBROADCASTB X14, Y14 // the low half of each byte
	MOVL    $0x20, DX
	MOVQ    DX, X15
	VPBROADCASTB X15, Y15 // the fold
	VPXOR   Y7, Y7, Y7    // zero
	SUBQ    $34, CX

triloop:
	CMPQ AX, CX
	JG   tridone

	VMOVDQU  (SI)(AX*1), Y0
	VPOR     Y15, Y0, Y0
	VPSRLW   $4, Y0, Y1
	VPAND    Y14, Y0, Y0
	VPAND    Y14, Y1, Y1
	VPSHUFB  Y0, Y8, Y0
	VPSHUFB  Y1, Y9, Y1
	VPAND    Y1, Y0, Y2

	VMOVDQU  1(SI)(AX*1), Y0
	VPOR     Y15, Y0, Y0
	VPSRLW   $4, Y0, Y1
	VPAND    Y14, Y0, Y0
	VPAND    Y14, Y1, Y1
	VPSHUFB  Y0, Y10, Y0
	VPSHUFB  Y1, Y11, Y1
	VPAND    Y1, Y0, Y0
	VPAND    Y0, Y2, Y2

	VMOVDQU  2(SI)(AX*1), Y0
	VPOR     Y15, Y0, Y0
	VPSRLW   $4, Y0, Y1
	VPAND    Y14, Y0, Y0
	VPAND    Y14, Y1, Y1
	VPSHUFB  Y0, Y12, Y0
	VPSHUFB  Y1, Y13, Y1
	VPAND    Y1, Y0, Y0
	VPAND    Y0, Y2, Y2

	VPCMPEQB  Y7, Y2, Y2 // 0xff where no bucket is common
	VPMOVMSKB Y2, DX
	NOTL      DX
	TESTL     DX, DX
	JNZ       trifound
	ADDQ      $32, AX
	JMP       triloop

trifound:
	BSFL DX, DX
	ADDQ DX, AX

tridone:
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET

// func noControlAVX2(p *byte, n int) int
//
// c < 0x20 as an unsigned byte exactly when min(c, 0x1f) == c.
TEXT ·noControlAVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	XORQ AX, AX
	MOVL $0x1f, DX
	MOVQ DX, X1
	VPBROADCASTB X1, Y1
	SUBQ $32, CX

ctlloop:
	CMPQ AX, CX
	JG   ctldone
	VMOVDQU   (SI)(AX*1), Y0
	VPMINUB   Y1, Y0, Y2 // min(c, 0x1f)
	VPCMPEQB  Y0, Y2, Y2 // 0xff where c <= 0x1f
	VPMOVMSKB Y2, DX
	TESTL     DX, DX
	JNZ       ctlfound
	ADDQ      $32, AX
	JMP       ctlloop

ctlfound:
	BSFL DX, DX
	ADDQ DX, AX

ctldone:
	VZEROUPPER
	MOVQ AX, ret+16(FP)
	RET

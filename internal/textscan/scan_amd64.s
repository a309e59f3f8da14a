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

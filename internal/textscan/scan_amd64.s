#include "textflag.h"

// BROADCAST sets every byte of y to imm (x is y's low half; DX is used).
#define BROADCAST(imm, x, y) MOVL imm, DX; MOVQ DX, x; VPBROADCASTB x, y

// EXITS are the two ways out of a block loop. found: DX has a bit per byte
// of the block at AX that stops the scan, and AX moves to the first.
// done: AX is the result, at ret in the frame.
#define EXITS(ret) \
found:                \
	BSFL DX, DX;        \
	ADDQ DX, AX;        \
done:                 \
	VZEROUPPER;         \
	MOVQ AX, ret(FP);   \
	RET

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
	BROADCAST($0x1f, X1, Y1)
	BROADCAST($0x22, X2, Y2)
	BROADCAST($0x5c, X3, Y3)
	SUBQ $32, CX

loop:
	CMPQ AX, CX
	JG   done
	VMOVDQU   (SI)(AX*1), Y0
	VPCMPGTB  Y1, Y0, Y4 // 0xff where c > 0x1f as signed bytes: 0x20..0x7f
	VPCMPEQB  Y2, Y0, Y5 // 0xff where c == '"'
	VPCMPEQB  Y3, Y0, Y6 // 0xff where c == '\\'
	VPOR      Y5, Y6, Y5
	VPANDN    Y4, Y5, Y7 // ^Y5 & Y4: 0xff where plain
	VPMOVMSKB Y7, DX
	NOTL      DX
	TESTL     DX, DX
	JNZ       found
	ADDQ      $32, AX
	JMP       loop

	EXITS(ret+16)

// func asciiAVX2(p *byte, n int) int
//
// A byte's top bit is the bit VPMOVMSKB gathers: a block is ASCII when the
// mask is zero.
TEXT ·asciiAVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	XORQ AX, AX
	SUBQ $32, CX

loop:
	CMPQ AX, CX
	JG   done
	VMOVDQU   (SI)(AX*1), Y0
	VPMOVMSKB Y0, DX
	TESTL     DX, DX
	JNZ       found
	ADDQ      $32, AX
	JMP       loop

	EXITS(ret+16)

// LOOKUP sets Y0 to the bucket bits of the 32 bytes at SI+AX+off for
// their place: each byte folded (|0x20, Y15), its two halves (Y14 keeps the
// low one) looked up in the tables lo and hi, the two results ANDed.
#define LOOKUP(off, lo, hi) \
	VMOVDQU off(SI)(AX*1), Y0; \
	VPOR    Y15, Y0, Y0;       \
	VPSRLW  $4, Y0, Y1;        \
	VPAND   Y14, Y0, Y0;       \
	VPAND   Y14, Y1, Y1;       \
	VPSHUFB Y0, lo, Y0;        \
	VPSHUFB Y1, hi, Y1;        \
	VPAND   Y1, Y0, Y0

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
	BROADCAST($0x0f, X14, Y14) // the low half of each byte
	BROADCAST($0x20, X15, Y15) // the fold
	VPXOR   Y7, Y7, Y7    // zero
	SUBQ    $34, CX

loop:
	CMPQ AX, CX
	JG   done

	LOOKUP(0, Y8, Y9)
	VMOVDQU  Y0, Y2

	LOOKUP(1, Y10, Y11)
	VPAND    Y0, Y2, Y2

	LOOKUP(2, Y12, Y13)
	VPAND    Y0, Y2, Y2

	VPCMPEQB  Y7, Y2, Y2 // 0xff where no bucket is common
	VPMOVMSKB Y2, DX
	NOTL      DX
	TESTL     DX, DX
	JNZ       found
	ADDQ      $32, AX
	JMP       loop

	EXITS(ret+24)

// func noControlAVX2(p *byte, n int) int
//
// c < 0x20 as an unsigned byte exactly when min(c, 0x1f) == c.
TEXT ·noControlAVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	XORQ AX, AX
	BROADCAST($0x1f, X1, Y1)
	SUBQ $32, CX

loop:
	CMPQ AX, CX
	JG   done
	VMOVDQU   (SI)(AX*1), Y0
	VPMINUB   Y1, Y0, Y2 // min(c, 0x1f)
	VPCMPEQB  Y0, Y2, Y2 // 0xff where c <= 0x1f
	VPMOVMSKB Y2, DX
	TESTL     DX, DX
	JNZ       found
	ADDQ      $32, AX
	JMP       loop

	EXITS(ret+16)

package record

import "testing"

// TestAppendStringWithoutAVX2 runs the long-string cases on the word at a
// time path alone, as on a processor without AVX2.
func TestAppendStringWithoutAVX2(t *testing.T) {
	defer func(v bool) { useAVX2 = v }(useAVX2)
	useAVX2 = false
	if plainBlocks("0123456789abcdef0123456789abcdef0123456789") != 0 {
		t.Fatal("plainBlocks ran its vector version with useAVX2 false")
	}
	TestAppendStringLongMixed(t)
}

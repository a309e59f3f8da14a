package textscan

import (
	"strings"
	"testing"
)

// TestWithoutAVX2: with useAVX2 false (a processor without AVX2) Plain is 0
// and ValidUTF8 still answers right.
func TestWithoutAVX2(t *testing.T) {
	defer func(v bool) { useAVX2 = v }(useAVX2)
	useAVX2 = false
	s := strings.Repeat("a", 40)
	if Plain(s) != 0 || NoControl(s) != 0 || !ValidUTF8([]byte(s)) || ValidUTF8([]byte(s+"\xff")) {
		t.Fatal("the scans without their vector version answered wrong")
	}
}

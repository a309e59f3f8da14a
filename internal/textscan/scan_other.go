//go:build !amd64

package textscan

// No vector version here: Plain and NoControl are 0, ValidUTF8 is
// utf8.Valid, and Trigrams.Next looks at no position (Scans is false).
const useAVX2 = false

func plainAVX2(*byte, int) int { return 0 }
func asciiAVX2(*byte, int) int { return 0 }

func trigramsAVX2(*byte, int, *[6][32]byte) int { return 0 }

func noControlAVX2(*byte, int) int { return 0 }

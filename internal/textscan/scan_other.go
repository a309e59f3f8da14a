//go:build !amd64

package textscan

// No vector version here: Plain is 0 and ValidUTF8 is utf8.Valid.
const useAVX2 = false

func plainAVX2(*byte, int) int { return 0 }
func asciiAVX2(*byte, int) int { return 0 }

func trigramsAVX2(*byte, int, *[6][32]byte) int { return 0 }

func noControlAVX2(*byte, int) int { return 0 }

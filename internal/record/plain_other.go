//go:build !amd64

package record

// plainBlocks is 0 where no vector version exists: appendString's word at
// a time loop does the work.
func plainBlocks(string) int { return 0 }

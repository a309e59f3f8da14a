package tail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
)

// fingerprintBytes is how much of a file's head identifies it.
const fingerprintBytes = 256

// fingerprint hashes the first min(limit, fingerprintBytes) bytes of f.
// Only bytes already read (or skipped, start-at=end) are used: an
// append-only file never changes them, a truncated or replaced one does.
func fingerprint(f *os.File, limit int64) (string, int) {
	n := min(limit, fingerprintBytes)
	if n <= 0 {
		return "", 0
	}
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF || int64(got) < n {
		return "", 0
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:16]), int(n)
}

func fingerprintMatches(f *os.File, fp string, n int) bool {
	if n == 0 {
		return true
	}
	got, gotN := fingerprint(f, int64(n))
	return gotN == n && bytes.Equal([]byte(got), []byte(fp))
}

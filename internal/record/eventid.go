package record

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// EventID returns the deterministic event.id of a record: the first 128 bits
// of sha256(len(source) || source || position || len(content) || content),
// lengths and position as 8-byte big-endian, written as 32 lowercase hex.
// Length prefixes keep ("ab","c") and ("a","bc") apart. How each front door
// chooses source, position and content is described in the package
// documentation ("Event identity"); the scheme must never change silently,
// or records replayed across an upgrade would be duplicated.
func EventID(source string, position uint64, content []byte) string {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(source)))
	h.Write(n[:])
	h.Write([]byte(source))
	binary.BigEndian.PutUint64(n[:], position)
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(len(content)))
	h.Write(n[:])
	h.Write(content)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

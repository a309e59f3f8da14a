package record

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// NormalizeTraceID validates a trace id and returns it as 32 lowercase hex.
// Hex of either case is accepted, and so is the base64 form (16 bytes) the
// OTel protobuf-JSON mapping writes for bytes fields. An all-zero id is
// invalid (W3C trace context: "all bytes as zero ... is considered invalid").
func NormalizeTraceID(s string) (string, bool) { return normalizeID(s, 16) }

// NormalizeSpanID is NormalizeTraceID for 8-byte span ids (16 hex).
func NormalizeSpanID(s string) (string, bool) { return normalizeID(s, 8) }

func normalizeID(s string, n int) (string, bool) {
	if len(s) == 2*n {
		if isLowerHex(s) {
			if allZeroHex(s) {
				return "", false
			}
			return s, true // common case: no allocation
		}
		low := strings.ToLower(s)
		if !isLowerHex(low) || allZeroHex(low) {
			return "", false
		}
		return low, true
	}
	// base64, padded or raw, standard or URL alphabet.
	if len(s) != base64.StdEncoding.EncodedLen(n) && len(s) != base64.RawStdEncoding.EncodedLen(n) {
		return "", false
	}
	var buf [32]byte // room for what any 24-char input decodes to
	for _, enc := range [...]*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.Decode(buf[:], []byte(s)); err == nil && k == n {
			id := hex.EncodeToString(buf[:n])
			if allZeroHex(id) {
				return "", false
			}
			return id, true
		}
	}
	return "", false
}

// isLowerHex reports whether every byte of s is 0-9 or a-f. It runs on the
// trace and span ids of every record, twice (parse, then the message key):
// eight bytes at a time (hexWord), because a branch per byte mispredicted on
// the random mix of digits and letters an id is.
func isLowerHex(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if !hexWord(load8(s, i)) {
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// hexWord reports whether the 8 bytes of w are all 0-9 or a-f. With every
// byte below 0x80 (checked first), adding 0x80-lo to a byte sets its bit 7
// exactly when it is >= lo, and adding 0x7f-hi exactly when it is > hi,
// without a carry into the next byte: a range test on all eight at once.
func hexWord(w uint64) bool {
	if w&lanes80 != 0 {
		return false
	}
	digit := (w + lanes01*(0x80-'0')) &^ (w + lanes01*(0x7f-'9'))
	letter := (w + lanes01*(0x80-'a')) &^ (w + lanes01*(0x7f-'f'))
	return (digit|letter)&lanes80 == lanes80
}

func allZeroHex(s string) bool { return allZero(s) }

// ParseTraceparent parses a W3C traceparent header value
// (https://www.w3.org/TR/trace-context/#traceparent-header):
// version "-" trace-id "-" parent-id "-" trace-flags, all lowercase hex.
// Version 00 must be exactly 55 characters; a higher version (not ff) may
// carry more fields after a '-', which are ignored as the spec requires.
// All-zero ids and version ff are rejected.
func ParseTraceparent(s string) (traceID, spanID, flags string, ok bool) {
	s = strings.TrimSpace(s)
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return "", "", "", false
	}
	ver := s[0:2]
	if !isLowerHex(ver) || ver == "ff" {
		return "", "", "", false
	}
	if ver == "00" && len(s) != 55 {
		return "", "", "", false
	}
	if len(s) > 55 && s[55] != '-' {
		return "", "", "", false
	}
	traceID, spanID, flags = s[3:35], s[36:52], s[53:55]
	if !isLowerHex(traceID) || !isLowerHex(spanID) || !isLowerHex(flags) ||
		allZeroHex(traceID) || allZeroHex(spanID) {
		return "", "", "", false
	}
	return traceID, spanID, flags, true
}

// ValidTraceID reports whether s is already a normalised trace id (32
// lowercase hex, not all zeros).
func ValidTraceID(s string) bool { return len(s) == 32 && isLowerHex(s) && !allZeroHex(s) }

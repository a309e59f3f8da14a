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

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
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

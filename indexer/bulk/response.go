package bulk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
)

// Response is the part of a _bulk response the writer reads.
type Response struct {
	Errors bool                      `json:"errors"`
	Items  []map[string]ResponseItem `json:"items"`
}

// ResponseItem is one item's result.
type ResponseItem struct {
	ID     string     `json:"_id"`
	Status int        `json:"status"`
	Error  *ItemError `json:"error,omitempty"`
}

// ItemError is Elasticsearch's error object.
type ItemError struct {
	Type     string     `json:"type"`
	Reason   string     `json:"reason"`
	CausedBy *ItemError `json:"caused_by,omitempty"`
}

func (e *ItemError) Error() string {
	if e == nil {
		return ""
	}
	s := e.Type + ": " + e.Reason
	if e.CausedBy != nil {
		s += " (caused by " + e.CausedBy.Error() + ")"
	}
	return s
}

// allOK is the start of a response in which no item failed: Elasticsearch
// writes "errors" before "items" (and filter_path keeps that order).
var allOK = []byte(`{"errors":false,`)

// ParseResponse decodes a _bulk response body into one result per item.
// The common answer, no item failed, is recognised without decoding the
// items: "errors":false and one "status" per item sent.
func ParseResponse(r io.Reader, n int) ([]ResponseItem, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read bulk response: %w", err)
	}
	if bytes.HasPrefix(body, allOK) && bytes.Count(body, []byte(`"status":`)) == n {
		out := make([]ResponseItem, n)
		for i := range out {
			out[i].Status = http.StatusCreated
		}
		return out, nil
	}
	var resp Response
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("decode bulk response: %w", err)
	}
	if len(resp.Items) != n {
		return nil, fmt.Errorf("bulk response has %d items, sent %d", len(resp.Items), n)
	}
	out := make([]ResponseItem, n)
	for i, m := range resp.Items {
		for _, v := range m { // one key: the action name
			out[i] = v
		}
	}
	return out, nil
}

// Class is what to do with a failed item.
type Class uint8

const (
	ClassOK Class = iota
	ClassDuplicate
	ClassRetry
	ClassConflict
	ClassPermanent
)

// Classify maps an item result to a class and, for retries, a reason.
func Classify(it ResponseItem) (Class, string) {
	switch {
	case it.Status >= 200 && it.Status < 300:
		return ClassOK, ""
	case it.Status == 409:
		return ClassDuplicate, ""
	case hasType(it.Error, "cluster_block_exception"):
		// A write block (read-only index, disk flood stage) is an outage of
		// the index, not a bad record: wait for it to lift, like a 5xx, and
		// never dead-letter records because of it.
		return ClassRetry, RetryBlocked
	case it.Status == 429 || hasType(it.Error, "es_rejected_execution_exception", "circuit_breaking_exception"):
		return ClassRetry, RetryTooMany
	case it.Status >= 500 || it.Status == 0:
		return ClassRetry, RetryServer
	case isMappingError(it.Error):
		return ClassConflict, ""
	}
	return ClassPermanent, ""
}

func hasType(e *ItemError, types ...string) bool {
	for ; e != nil; e = e.CausedBy {
		for _, t := range types {
			if e.Type == t {
				return true
			}
		}
	}
	return false
}

func isMappingError(e *ItemError) bool {
	if e == nil {
		return false
	}
	switch e.Type {
	case "mapper_parsing_exception", "document_parsing_exception", "strict_dynamic_mapping_exception":
		return true
	case "illegal_argument_exception":
		r := e.Reason
		return strings.Contains(r, "mapper [") || strings.Contains(r, "mapping") || strings.Contains(r, "field [")
	}
	return false
}

// Field paths in Elasticsearch's mapping error reasons, most specific first:
//
//	failed to parse field [user.age] of type [long] in document with id ...
//	object mapping for [o] tried to parse field [o] as object, but found a concrete value
//	mapper [a.b] cannot be changed from type [long] to [text]
//	Could not dynamically add mapping for field [a.b]. Existing mapping for [a] must be of type object ...
//	Can't merge a non object mapping [a] with an object mapping
//	Limit of total fields [...] — no field: handled by the whole-source fallback.
var fieldPatterns = []*regexp.Regexp{
	regexp.MustCompile(`failed to parse field \[([^\]]+)\]`),
	regexp.MustCompile(`tried to parse field \[([^\]]+)\]`),
	regexp.MustCompile(`mapper \[([^\]]+)\] cannot be changed`),
	regexp.MustCompile(`add mapping for field \[([^\]]+)\]`),
	regexp.MustCompile(`non object mapping \[([^\]]+)\]`),
	regexp.MustCompile(`object mapping \[([^\]]+)\]`),
	regexp.MustCompile(`failed to parse \[([^\]]+)\]`),
}

// ConflictField extracts the conflicting field path from a mapping error, or
// "" when the reason names none.
func ConflictField(e *ItemError) string {
	for ; e != nil; e = e.CausedBy {
		for _, re := range fieldPatterns {
			if m := re.FindStringSubmatch(e.Reason); m != nil {
				return m[1]
			}
		}
	}
	return ""
}

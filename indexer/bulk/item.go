// Package bulk is the indexer's Elasticsearch writer: it turns a batch of
// records into one _bulk request whose NDJSON body is built by appending the
// record bytes as they came from Kafka (the value IS the document source),
// reads the per-item results, retries what can succeed later, quarantines
// mapping conflicts and reports everything else as a dead letter.
//
// esutil.BulkIndexer is not used: it retries no single item (a 429 on one
// document is reported to a callback and dropped) and keeps accepting and
// buffering documents while Elasticsearch is down, so it can give neither
// "committed ⇒ acknowledged" nor bounded memory. Write here returns only when
// every item has a final outcome, and blocks (retrying) while the cluster is
// unavailable, which is what stops the indexer from fetching.
package bulk

import "github.com/segmentio/kafka-go"

// Outcome is the final state of one item.
type Outcome uint8

const (
	// Pending: no final outcome yet.
	Pending Outcome = iota
	// Indexed: Elasticsearch created the document.
	Indexed
	// Duplicate: the document already existed (409 on create): delivered
	// before, by a replay, a producer retry or a redelivery after a crash.
	Duplicate
	// Quarantined: indexed with conflicting fields moved under _conflicts;
	// the original goes to the dead-letter topic too.
	Quarantined
	// DeadLetter: cannot be indexed; goes to the dead-letter topic only.
	DeadLetter
)

// Dead-letter and retry reasons: closed sets, the metric label values.
const (
	ReasonInvalidJSON     = "invalid_json"
	ReasonMappingConflict = "mapping_conflict"
	ReasonTooLarge        = "too_large"
	ReasonRejected        = "rejected" // any other permanent 4xx
	ReasonMissingID       = "missing_id"
)

// DeadLetterReasons lists every dead-letter reason.
var DeadLetterReasons = []string{ReasonInvalidJSON, ReasonMappingConflict, ReasonTooLarge, ReasonRejected, ReasonMissingID}

// Retry reasons.
const (
	RetryTooMany     = "too_many_requests" // 429, es_rejected_execution_exception
	RetryServer      = "server_error"      // 5xx item or response
	RetryUnreachable = "unreachable"       // transport error, timeout
	RetryBlocked     = "index_blocked"     // cluster_block_exception: read-only / write block (e.g. disk flood stage)
)

// RetryReasons lists every retry reason.
var RetryReasons = []string{RetryTooMany, RetryServer, RetryUnreachable, RetryBlocked}

// Op is the bulk action.
type Op string

const (
	// OpCreate fails with 409 when the id exists: exactly once.
	OpCreate Op = "create"
	// OpIndex overwrites: used by DLQ replay, where the dead-lettered
	// version must replace a quarantined one.
	OpIndex Op = "index"
)

// Item is one document of a batch.
type Item struct {
	Msg    kafka.Message // the original message (dead letters keep its bytes)
	Index  string
	ID     string
	Op     Op
	Source []byte // one-line JSON object

	Outcome Outcome
	Reason  string // dead-letter reason
	Err     error  // why, for the dead-letter header
	// Conflicts lists the quarantined field paths (Outcome Quarantined).
	Conflicts []string
}

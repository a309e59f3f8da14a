// Package chaos is the fault-injection suite: every scenario runs the real
// pipeline as processes (load generator → file → shipper → Kafka → indexer →
// Elasticsearch), injects one fault a third of the way in (a killed
// process, a stopped broker, a cut or degraded network link, poison
// records), and then counts, exactly, what was sent, acknowledged, indexed
// and dead-lettered. The Ledger is that count and the verdict; README.md
// states the guarantees the scenarios back and shows the latest ledger.
//
// Run it with `make chaos` (every scenario, 200 000 records each) or
// `go test ./test/chaos/...` (the short version that `make test` runs).
package chaos

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Ledger is what one scenario sent and where each record ended.
type Ledger struct {
	Scenario string
	Fault    string
	// Sent is the load generator's record count; Acked is the shipper's
	// records_produced_total{outcome="ok"} summed over its incarnations
	// (a record re-sent after a crash counts again).
	Sent, Acked int64
	// Poison records were produced straight to Kafka by a "foreign
	// producer", by kind; they must all end as dead letters.
	Poison map[string]int64
	// Docs and Indexed are the run's documents in Elasticsearch and their
	// distinct sequence numbers.
	Docs, Indexed int64
	// DeadLetters are distinct dead letters (by original partition and
	// offset) by reason; DeadRun of them belong to the load generator run.
	DeadLetters map[string]int64
	DeadRun     int64
	// Recovery is from the end of the fault until everything sent was
	// indexed; Probe is how long a fresh batch took to become searchable.
	Recovery, Probe time.Duration
	// AuditMissing is what `indexer audit` reported missing after the run
	// (-1: not run); AuditProducers the producers it saw.
	AuditMissing, AuditProducers int64
	// LagZero: consumer lag returned to 0 after the run.
	LagZero bool
	// PeakRSS by component, bytes; MemBound is the stated bound.
	PeakRSS  map[string]float64
	MemBound float64
	Failures []string
	// Notes are scenario facts printed under the table (how many 429s
	// the indexer retried, what was in flight at a kill).
	Notes []string
}

// Lost is sent minus indexed minus the run's own dead letters.
func (l *Ledger) Lost() int64 { return l.Sent - l.Indexed - l.DeadRun }

// Duplicates are documents beyond the distinct sequence numbers.
func (l *Ledger) Duplicates() int64 { return l.Docs - l.Indexed }

// DeadTotal sums the dead letters.
func (l *Ledger) DeadTotal() int64 {
	var n int64
	for _, v := range l.DeadLetters {
		n += v
	}
	return n
}

// PoisonTotal sums the injected poison records.
func (l *Ledger) PoisonTotal() int64 {
	var n int64
	for _, v := range l.Poison {
		n += v
	}
	return n
}

// Fail records a failed check.
func (l *Ledger) Fail(format string, args ...any) {
	l.Failures = append(l.Failures, fmt.Sprintf(format, args...))
}

// Note records a scenario fact for the report.
func (l *Ledger) Note(format string, args ...any) {
	l.Notes = append(l.Notes, fmt.Sprintf(format, args...))
}

// Pass is true when no check failed.
func (l *Ledger) Pass() bool { return len(l.Failures) == 0 }

func mib(b float64) string { return fmt.Sprintf("%.0f", b/(1<<20)) }

func kv(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// WriteTable prints ledgers as a Markdown table (readable as text too),
// then the dead letters by reason and every failed check.
func WriteTable(w io.Writer, ls []*Ledger) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "| scenario\t| fault\t| sent\t| acked\t| indexed\t| poison\t| dead-lettered\t| lost\t| duplicates\t| audit missing\t| recovery\t| probe\t| lag 0\t| peak RSS MiB\t| result\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|")
	for _, l := range ls {
		res := "PASS"
		if !l.Pass() {
			res = "FAIL"
		}
		audit := "-"
		if l.AuditMissing >= 0 {
			audit = fmt.Sprintf("%d (%d producers)", l.AuditMissing, l.AuditProducers)
		}
		var rss []string
		ks := make([]string, 0, len(l.PeakRSS))
		for k := range l.PeakRSS {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			rss = append(rss, k+" "+mib(l.PeakRSS[k]))
		}
		fmt.Fprintf(tw, "| %s\t| %s\t| %d\t| %d\t| %d\t| %d\t| %d\t| %d\t| %d\t| %s\t| %.1fs\t| %.1fs\t| %v\t| %s\t| %s\t|\n",
			l.Scenario, l.Fault, l.Sent, l.Acked, l.Indexed, l.PoisonTotal(), l.DeadTotal(), l.Lost(), l.Duplicates(),
			audit, l.Recovery.Seconds(), l.Probe.Seconds(), l.LagZero, strings.Join(rss, ", "), res)
	}
	tw.Flush()
	for _, l := range ls {
		if len(l.DeadLetters) > 0 || len(l.Poison) > 0 {
			fmt.Fprintf(w, "\n%s: poison injected %s; dead letters by reason %s", l.Scenario, kv(l.Poison), kv(l.DeadLetters))
		}
		for _, n := range l.Notes {
			fmt.Fprintf(w, "\n%s: %s", l.Scenario, n)
		}
		for _, f := range l.Failures {
			fmt.Fprintf(w, "\n%s: FAILED: %s", l.Scenario, f)
		}
	}
	fmt.Fprintln(w)
}

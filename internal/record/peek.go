package record

import (
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// Meta is what the indexer needs from an encoded record to route, correlate
// and summarise it, without decoding the whole document.
type Meta struct {
	EventID, TraceID, SpanID, Service, ServiceInstance, SessionID, ConversationID, Message string
	// ServiceVersion is service.version when it is a string, else "".
	ServiceVersion string
	// The span fields (OTLP spans; "" in log records), each when a string:
	// parent.id, span.name, span.status.code and event.end as written.
	ParentID, SpanName, StatusCode, End string
	Level                               Level
	Timestamp                           time.Time
	HasTimestamp                        bool
	// Canary is set for an end-to-end canary record (FieldCanary present):
	// indexed like any record, but not counted as user data.
	Canary bool
}

// Peek reads the top-level fields of an encoded record (as AppendJSON writes
// them: flat dotted keys) with a small scanner that skips, but still
// validates, everything else. It fails, saying what is wrong, unless doc is
// exactly one valid JSON object. A typed field of the wrong JSON type is an
// error too: the document did not come from AppendJSON.
//
// Meta's strings alias doc (no copy of the document is made): doc must not
// change while they are in use, and a caller that keeps one beyond doc's
// life clones it, or it keeps the whole document alive.
func Peek(doc []byte) (Meta, error) {
	var m Meta
	sc := scanner{buf: unsafe.String(unsafe.SliceData(doc), len(doc))}
	sc.skipWS()
	if sc.pos >= len(doc) {
		return m, errors.New("peek record: empty document")
	}
	if doc[sc.pos] != '{' {
		return m, fmt.Errorf("peek record: document is not a JSON object (starts with %q)", doc[sc.pos])
	}
	err := sc.members(func(key string) error {
		var dst, ord *string
		switch key {
		case FieldEventID:
			dst = &m.EventID
		case FieldTraceID:
			dst = &m.TraceID
		case FieldSpanID:
			dst = &m.SpanID
		case FieldService:
			dst = &m.Service
		case FieldServiceInstance:
			dst = &m.ServiceInstance
		// Ordinary fields, not typed ones: any JSON type is tolerated, and
		// only a string or a number is taken (below).
		case FieldSessionID:
			ord = &m.SessionID
		case FieldConversationID:
			ord = &m.ConversationID
		case FieldServiceVersion:
			ord = &m.ServiceVersion
		case FieldParentID:
			ord = &m.ParentID
		case FieldSpanName:
			ord = &m.SpanName
		case FieldStatusCode:
			ord = &m.StatusCode
		case FieldEventEnd:
			ord = &m.End
		case FieldMessage:
			dst = &m.Message
		case FieldLevel:
			s, err := sc.string()
			if err != nil {
				return fmt.Errorf("%s: %w", FieldLevel, err)
			}
			m.Level = Level(s)
			return nil
		case FieldTimestamp:
			s, err := sc.string()
			if err != nil {
				return fmt.Errorf("%s: %w", FieldTimestamp, err)
			}
			ts, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return fmt.Errorf("%s: %w", FieldTimestamp, err)
			}
			m.Timestamp, m.HasTimestamp = ts, true
			return nil
		case FieldCanary:
			m.Canary = doc[sc.pos] != 'n' // any value but null marks a canary
			return sc.skip()
		default:
			return sc.skip()
		}
		if ord != nil {
			start := sc.pos
			if err := sc.skip(); err != nil {
				return err
			}
			switch doc[start] {
			case '"':
				sub := scanner{buf: sc.buf[start:sc.pos]}
				s, err := sub.string()
				if err != nil {
					return err
				}
				*ord = s
			case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
				*ord = sc.buf[start:sc.pos]
			}
			return nil
		}
		if doc[sc.pos] == 'n' { // null: absent
			return sc.literal("null")
		}
		s, err := sc.string()
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		*dst = s
		return nil
	})
	if err == nil {
		err = sc.end()
	}
	if err != nil {
		return Meta{}, fmt.Errorf("peek record: %w", err)
	}
	return m, nil
}

// Decode fully decodes an encoded record (tests, replay tools). Typed fields
// are read from their canonical keys; every other key goes to Fields, with
// numbers as json.Number.
func Decode(doc []byte) (Record, error) {
	var r Record
	sc := scanner{buf: string(doc)}
	sc.skipWS()
	m := make(map[string]any)
	if err := sc.object(m); err != nil {
		return r, fmt.Errorf("decode record: %w", err)
	}
	if err := sc.end(); err != nil {
		return r, fmt.Errorf("decode record: %w", err)
	}
	take := func(k string, dst *string) {
		if s, ok := m[k].(string); ok {
			*dst = s
			delete(m, k)
		}
	}
	if s, ok := m[FieldTimestamp].(string); ok {
		if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
			r.Timestamp = ts
			delete(m, FieldTimestamp)
		}
	}
	take(FieldMessage, &r.Message)
	var level string
	take(FieldLevel, &level)
	r.Level = Level(level)
	take(FieldService, &r.Service)
	take(FieldServiceInstance, &r.ServiceInstance)
	take(FieldTraceID, &r.TraceID)
	take(FieldSpanID, &r.SpanID)
	take(FieldTraceFlags, &r.TraceFlags)
	take(FieldEventID, &r.EventID)
	take(FieldDataset, &r.Dataset)
	if flags, ok := m[FieldFlags].([]any); ok {
		for _, f := range flags {
			if s, ok := f.(string); ok {
				r.Flags = append(r.Flags, s)
			}
		}
		delete(m, FieldFlags)
	}
	if len(m) > 0 {
		r.Fields = m
	}
	return r, nil
}

package record

import (
	"strings"
	"testing"
	"time"
)

func TestPeek(t *testing.T) {
	r := Record{
		Timestamp: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC), Message: "hello \"world\"\n", Level: LevelError,
		Service: "svc", ServiceInstance: "inst", TraceID: tid1, SpanID: sid1, EventID: "0123456789abcdef0123456789abcdef",
		Fields: map[string]any{FieldSessionID: "sess", FieldConversationID: "conv", "deep": map[string]any{"trace.id": "nope", "x": []any{1, "2", nil}}},
	}
	m, err := Peek(r.AppendJSON(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Meta{EventID: r.EventID, TraceID: tid1, SpanID: sid1, Service: "svc", ServiceInstance: "inst", SessionID: "sess",
		ConversationID: "conv", Message: r.Message, Level: LevelError, Timestamp: r.Timestamp, HasTimestamp: true}
	if m != want {
		t.Errorf("Peek =\n%+v\nwant\n%+v", m, want)
	}
	if m, err := Peek([]byte(` {"message":"no ts","trace.id":null} `)); err != nil || m.HasTimestamp || m.Message != "no ts" {
		t.Errorf("minimal doc: %+v %v", m, err)
	}
	if m, err := Peek([]byte(`{"mess\u0061ge":"escaped key"}`)); err != nil || m.Message != "escaped key" {
		t.Errorf("escaped key: %+v %v", m, err)
	}
	// The span fields are ordinary fields: a string or a number is taken, any other type is skipped.
	span := `{"parent.id":"00f067aa0ba902b7","span.name":"execute_tool","span.status.code":"error",` +
		`"event.end":"2026-11-26T10:00:00.200000000Z","service.version":{"not":"a string"},"session.id":42}`
	if m, err := Peek([]byte(span)); err != nil || m.ParentID != "00f067aa0ba902b7" || m.SpanName != "execute_tool" ||
		m.StatusCode != "error" || m.End != "2026-11-26T10:00:00.200000000Z" || m.ServiceVersion != "" || m.SessionID != "42" {
		t.Errorf("span fields: %+v %v", m, err)
	}
	for doc, canary := range map[string]bool{`{"agentobs.canary":"shipper/h","message":"x"}`: true,
		`{"agentobs.canary":null}`: false, `{"agentobs":{"canary":"nested is not ours"}}`: false, `{"message":"x"}`: false} {
		if m, err := Peek([]byte(doc)); err != nil || m.Canary != canary {
			t.Errorf("%s: canary %v, want %v (%v)", doc, m.Canary, canary, err)
		}
	}
}

func TestPeekErrors(t *testing.T) {
	for _, doc := range []string{
		``, `   `, `[]`, `"x"`, `null`, `{`, `{"a":1`, `{"a":1,}`, `{"a" 1}`, `{"a":tru}`, `{"a":01}`,
		`{"a":1}{"b":2}`, `{"a":1} x`, `{"a":"unterminated}`, `{"a":"bad \x escape"}`, "{\"a\":\"ctl\x01\"}",
		`{"message":5}`, `{"@timestamp":"yesterday"}`, `{"trace.id":{}}`, `{"a":[1,2}`, `{"a":{"b":[}}`,
		strings.Repeat(`{"a":`, 2000) + "1" + strings.Repeat("}", 2000),
	} {
		if _, err := Peek([]byte(doc)); err == nil {
			t.Errorf("Peek(%.40q) succeeded", doc)
		} else if !strings.HasPrefix(err.Error(), "peek record: ") {
			t.Errorf("Peek(%.40q) error not wrapped: %v", doc, err)
		}
	}
}

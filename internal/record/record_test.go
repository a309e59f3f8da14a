package record

import (
	"reflect"
	"testing"

	"github.com/agentobs/agentobs/internal/box"
)

// TestResetWideFields: Reset keeps an ordinary Fields map for the next
// record and replaces one that held more than box.MaxReusedMap entries (a
// map keeps its largest table through clear, and every record after a
// wide one would walk it); either way the record is empty, and a line
// parsed after a wide record encodes as it does alone.
func TestResetWideFields(t *testing.T) {
	p := testParser(ParseOptions{})
	line := []byte(`{"msg":"after","trace_id":"` + tid1 + `","k":1,"nested":{"a":"b"}}`)
	var alone Record
	p.Parse(line, &alone)
	want := string(alone.AppendJSON(nil))

	var r Record
	p.Parse([]byte(`{"msg":"a","k":1}`), &r)
	narrow := reflect.ValueOf(r.Fields).UnsafePointer()
	r.Reset()
	if reflect.ValueOf(r.Fields).UnsafePointer() != narrow || len(r.Fields) != 0 {
		t.Errorf("an ordinary map is not reused empty: %v", r.Fields)
	}
	for _, n := range []int{box.MaxReusedMap, box.MaxReusedMap + 1, 2000} {
		p.Parse([]byte(wideLine(n)), &r)
		if len(r.Fields) != n {
			t.Fatalf("%d fields parsed as %d", n, len(r.Fields))
		}
		before := reflect.ValueOf(r.Fields).UnsafePointer()
		r.Reset()
		reused := reflect.ValueOf(r.Fields).UnsafePointer() == before
		if r.Fields == nil || len(r.Fields) != 0 || reused != (n <= box.MaxReusedMap) {
			t.Errorf("%d fields: after Reset %d left, map reused %v", n, len(r.Fields), reused)
		}
		p.Parse(line, &r)
		if got := string(r.AppendJSON(nil)); got != want {
			t.Errorf("after %d fields:\n got %s\nwant %s", n, got, want)
		}
	}
}

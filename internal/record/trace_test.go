package record

import "testing"

func TestNormalizeIDs(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
		span     bool
	}{
		{in: tid1, want: tid1, ok: true},
		{in: "4BF92F3577B34DA6A3CE929D0E0E4736", want: tid1, ok: true},
		{in: "W47/95gDgQPSabYzgT/GDA==", want: tid2, ok: true}, // OTel protobuf-JSON base64
		{in: "W47/95gDgQPSabYzgT/GDA", want: tid2, ok: true},   // unpadded
		{in: "W47_95gDgQPSabYzgT_GDA==", want: tid2, ok: true}, // URL alphabet
		{in: "00000000000000000000000000000000"},
		{in: "AAAAAAAAAAAAAAAAAAAAAA=="}, // base64 of zeros
		{in: "4bf92f3577b34da6a3ce929d0e0e473"},
		{in: "4bf92f3577b34da6a3ce929d0e0e4736a"},
		{in: "4bf92f3577b34da6a3ce929d0e0e473g"},
		{in: ""},
		{in: "000000000000000000000000"}, // 24 base64 chars decoding to 18 bytes (found by fuzzing)
		{in: sid1, want: sid1, ok: true, span: true},
		{in: "00F067AA0BA902B7", want: sid1, ok: true, span: true},
		{in: "7uGbfsPBsXQ=", want: sid2, ok: true, span: true},
		{in: "0000000000000000", span: true},
		{in: "xyz", span: true},
		{in: tid1, span: true},
	} {
		f := NormalizeTraceID
		if tc.span {
			f = NormalizeSpanID
		}
		got, ok := f(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("normalize(%q, span=%v) = %q, %v; want %q, %v", tc.in, tc.span, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseTraceparent(t *testing.T) {
	for _, tc := range []struct {
		in                 string
		trace, span, flags string
		ok                 bool
	}{
		{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", tid3, "b7ad6b7169203331", "01", true},
		{" 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00 ", tid3, "b7ad6b7169203331", "00", true},
		// a future version may append fields; they are ignored
		{"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-will-be", tid3, "b7ad6b7169203331", "01", true},
		{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", "", "", "", false}, // v00 must be 55 chars
		{"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "", "", "", false},
		{"00-00000000000000000000000000000000-b7ad6b7169203331-01", "", "", "", false},
		{"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", "", "", "", false},
		{"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", "", "", "", false}, // spec: lowercase only
		{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01", "", "", "", false},
		{"00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01", "", "", "", false},
		{"0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "", "", "", false},
		{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0x", "", "", "", false},
		{"", "", "", "", false},
	} {
		tr, sp, fl, ok := ParseTraceparent(tc.in)
		if tr != tc.trace || sp != tc.span || fl != tc.flags || ok != tc.ok {
			t.Errorf("ParseTraceparent(%q) = %q %q %q %v", tc.in, tr, sp, fl, ok)
		}
	}
}

// TestIsLowerHexEveryByte checks isLowerHex against the definition for
// every byte, alone, at each position of an 8-byte word and in the tail.
func TestIsLowerHexEveryByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
		cases := []string{string([]byte{byte(c)}), "0af7" + string([]byte{byte(c)}) + "9c"}
		for i := 0; i < 10; i++ {
			b := []byte("0123456789")
			b[i] = byte(c)
			cases = append(cases, string(b))
		}
		for _, s := range cases {
			if got := isLowerHex(s); got != want {
				t.Errorf("isLowerHex(%q) = %v, want %v", s, got, want)
			}
		}
	}
	if !isLowerHex("") {
		t.Error(`isLowerHex("") = false, want true (vacuous)`)
	}
}

func BenchmarkValidTraceID(b *testing.B) {
	ids := []string{tid1, tid3, "4bf92f3577b34da6a3ce929d0e0e4736"}
	for b.Loop() {
		for _, id := range ids {
			if !ValidTraceID(id) {
				b.Fatal(id)
			}
		}
	}
}

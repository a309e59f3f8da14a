package ui

import (
	"strings"
	"testing"
)

func TestCleanMakesTextInert(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"\x1b[31mred\x1b[0m", "red"},
		{"a\x1b]0;title\x07b", "ab"},
		{"x\u202Ey\u2066z", `x\u202ey\u2066z`},
		{"bell\x07 nul\x00", `bell\u0007 nul\u0000`},
		{"tab\tline\nnext", "tab\tline\nnext"},
		{"<script>", "<script>"}, // html/template escapes it on the page
	} {
		if got, cut := clean(c.in, 100); got != c.want || cut {
			t.Errorf("clean(%q) = %q, %v want %q", c.in, got, cut, c.want)
		}
	}
	got, cut := clean(strings.Repeat("é", 10), 5) // 2-byte runes: no half rune at the cut
	if !cut || got != "éé" {
		t.Errorf("cut = %q, %v", got, cut)
	}
}

func TestExpressionFromGeneratorURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://prom:9090/graph?g0.expr=rate%28x_total%5B5m%5D%29+%3E+1&g0.tab=1": "rate(x_total[5m]) > 1",
		"http://prom:9090/graph": "",
		"":                       "",
		"%zz":                    "",
	} {
		if got := expression(in); got != want {
			t.Errorf("expression(%q) = %q want %q", in, got, want)
		}
	}
}

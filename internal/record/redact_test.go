package record

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// candidatesRef is the plain definition of Policy.candidates: the rules one
// of whose literals occurs in s, ASCII case ignored.
func candidatesRef(p *Policy, s string) uint64 {
	lower := []byte(s)
	for i, c := range lower {
		lower[i] = lowerASCII(c)
	}
	var mask uint64
	for i, r := range p.rules {
		if i >= 64 {
			break
		}
		for _, l := range r.lits {
			if strings.Contains(string(lower), l) {
				mask |= 1 << i
			}
		}
	}
	return mask
}

func checkCandidates(t *testing.T, p *Policy, s string) {
	t.Helper()
	if got, want := p.candidates(s), candidatesRef(p, s); got != want {
		t.Fatalf("candidates(%q) = %b, want %b", s, got, want)
	}
}

// TestCandidates holds the prefilter to its definition: a rule it leaves
// out is never run, so a missed literal would be a secret left in clear.
func TestCandidates(t *testing.T) {
	p, err := NewPolicy(PolicyConfig{Redact: true, ExtraPatterns: []string{"x"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"", "a", "sk-", "SK_", "xOx", "://", "Authorization", "PASSWORD=", `Api_Key"`,
		"private KEY", "eyJ", "x", "ß k", "\xffsk-", "sk\xff-", "lorem ipsum dolor sit amet", "akiaASIAghp_gho_github_pat_"} {
		checkCandidates(t, p, s)
	}
	// Random strings over an alphabet dense in literal bytes, both cases.
	const alphabet = "abegiknoprstwxyzABEGKPRSTXYZ:/-_=\" \xc3\xa9\x00\xff"
	rng := rand.New(rand.NewPCG(1, 2))
	var b []byte
	for range 200000 {
		b = b[:0]
		for range rng.IntN(24) + 60*rng.IntN(2) { // past one 8-byte load, with a tail; or long enough for the vector scan
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
		checkCandidates(t, p, string(b))
	}
	for _, r := range p.rules {
		for _, l := range r.lits {
			for _, s := range []string{l, strings.ToUpper(l), "_" + l, l + "_", "x" + strings.ToUpper(l[:1]) + l[1:]} {
				checkCandidates(t, p, s)
			}
		}
	}
}

func FuzzCandidates(f *testing.F) {
	for _, s := range []string{"Authorization: Bearer x", "password=1", "sk-proj-abc", "://u:p@h"} {
		f.Add(s)
	}
	p, err := NewPolicy(PolicyConfig{Redact: true}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) { checkCandidates(t, p, s) })
}

// TestIsSecretKey holds the fast key check to secretKeyName's definition.
func TestIsSecretKey(t *testing.T) {
	p, err := NewPolicy(PolicyConfig{Redact: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"", "password", "PASSWORD", "db.Password", "x-api-key", "X-API-KEY", "api-key", "Set-Cookie", "a.b.token",
		"tokens", "passwordpassword1", "passwordpasswor", "client_secret", "CLIENT-SECRET", "private_key", "to\u212Aen", "TO\u212AEN",
		"pa\u017F\u017Fword", "pessword", "trace_id", "tokex", "é.token", "token.é", "\xff", "auth_token.", ".", "cookie", "Authorization", "pwd", "PwD"}
	for _, k := range keys {
		if got, want := p.isSecretKey(k), p.secret[secretKeyName(k)]; got != want {
			t.Errorf("isSecretKey(%q) = %v, want %v", k, got, want)
		}
	}
}

func FuzzIsSecretKey(f *testing.F) {
	f.Add("X-Api-Key")
	p, err := NewPolicy(PolicyConfig{Redact: true}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if got, want := p.isSecretKey(k), p.secret[secretKeyName(k)]; got != want {
			t.Fatalf("isSecretKey(%q) = %v, want %v", k, got, want)
		}
	})
}

// BenchmarkCandidates: the redaction prefilter over the string fields of
// the 1 KiB agent line, the work it does for every record at the edge.
func BenchmarkCandidates(b *testing.B) {
	p, err := NewPolicy(DefaultPolicyConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	var rec Record
	NewParser(ParseOptions{}).Parse(benchLines["slog1k"], &rec)
	strs := []string{rec.Message}
	n := len(rec.Message)
	for _, v := range rec.Fields {
		if s, ok := v.(string); ok {
			strs, n = append(strs, s), n+len(s)
		}
	}
	b.SetBytes(int64(n))
	for b.Loop() {
		for _, s := range strs {
			p.candidates(s)
		}
	}
}

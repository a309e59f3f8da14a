package record

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
)

type fakeStats struct {
	mu                        sync.Mutex
	redacted, content, limits map[string]int
}

func newFakeStats() *fakeStats {
	return &fakeStats{redacted: map[string]int{}, content: map[string]int{}, limits: map[string]int{}}
}
func (s *fakeStats) Redacted(r string)       { s.mu.Lock(); s.redacted[r]++; s.mu.Unlock() }
func (s *fakeStats) ContentLimited(f string) { s.mu.Lock(); s.content[f]++; s.mu.Unlock() }
func (s *fakeStats) Limited(k string)        { s.mu.Lock(); s.limits[k]++; s.mu.Unlock() }

func newTestPolicy(t *testing.T, cfg PolicyConfig) (*Policy, *fakeStats) {
	t.Helper()
	st := newFakeStats()
	p, err := NewPolicy(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	return p, st
}

func TestRedactRules(t *testing.T) {
	p, st := newTestPolicy(t, DefaultPolicyConfig())
	for _, tc := range []struct{ rule, in, want string }{
		{RuleAuthorization, "Authorization: Bearer abc.def-123", "Authorization: Bearer [REDACTED:authorization]"},
		{RuleAuthorization, `headers={"authorization": "Basic dXNlcjpwYXNz"}`, `headers={"authorization": "Basic [REDACTED:authorization]"}`},
		{RuleBearer, "calling api with bearer eyJhbGciOiJIUzI1NiJ9abc123 now", "calling api with bearer [REDACTED:bearer_token] now"},
		{RuleJWT, "jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok",
			"jwt=[REDACTED:jwt] ok"},
		{RuleAPIKey, "using key sk-proj-AbCdEfGhIjKlMnOpQrStUvWx123 for openai", "using key [REDACTED:api_key] for openai"},
		{RuleAPIKey, "anthropic sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123", "anthropic [REDACTED:api_key]"},
		{RuleAPIKey, "stripe sk_live_51HcQbTAbCdEfGhIjKl", "stripe [REDACTED:api_key]"},
		{RuleAWSKey, "aws key AKIAIOSFODNN7EXAMPLE used", "aws key [REDACTED:aws_access_key] used"},
		{RuleGitHubToken, "push with ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 done", "push with [REDACTED:github_token] done"},
		{RuleGitHubToken, "github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "[REDACTED:github_token]"},
		{RuleSlackToken, "slack xoxb-123456789012-abcdefghij ok", "slack [REDACTED:slack_token] ok"},
		{RulePrivateKey, "key: -----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- end", "key: [REDACTED:private_key] end"},
		{RuleURLPassword, "connect postgres://agent:s3cr3t@db:5432/app failed", "connect postgres://agent:[REDACTED:url_password]@db:5432/app failed"},
		{RuleKeyValue, "login user=bob password=hunter2 ok", "login user=bob password=[REDACTED:key_value] ok"},
		{RuleKeyValue, "GET /x?api_key=abc123&secret=xyz&q=1", "GET /x?api_key=[REDACTED:key_value]&secret=[REDACTED:key_value]&q=1"},
		{RuleKeyValue, "refresh with token=abcdef", "refresh with token=[REDACTED:key_value]"},
		{RuleJSONSecret, `body {"user":"bob","password":"hunter2"}`, `body {"user":"bob","password":"[REDACTED:json_secret]"}`},
		{RuleJSONSecret, `{"api_key" : "k-1\"2"}`, `{"api_key" : "[REDACTED:json_secret]"}`},
	} {
		got, changed := p.redact(tc.in)
		if got != tc.want || !changed {
			t.Errorf("%s: redact(%q)\n got %q\nwant %q", tc.rule, tc.in, got, tc.want)
		}
		if st.redacted[tc.rule] == 0 {
			t.Errorf("%s: not counted (%v)", tc.rule, st.redacted)
		}
	}
	for _, name := range PolicyRules {
		if name == RuleSecretField || name == RuleCustom {
			continue
		}
		if st.redacted[name] == 0 {
			t.Errorf("rule %s has no test", name)
		}
	}
}

func TestRedactLeavesOrdinaryText(t *testing.T) {
	p, st := newTestPolicy(t, DefaultPolicyConfig())
	for _, s := range []string{
		"token count 42",
		"prompt_tokens=512 completion_tokens=128 max_tokens=4096",
		"gen_ai.usage.input_tokens: 42",
		"the bearer of bad news",
		"the bearer certificatesverification failed",
		"tokens: 42, secrets rotated",
		"ask-the-user-for-confirmation-before-proceeding",
		"https://example.com/path?q=1",
		"user@example.com wrote",
		"Authorization failed for user bob",
		"password reset requested",
		`{"password_policy":"strong"}`,
		"ghp_short",
		"AKIA lowercase akiaiosfodnn7example",
		"",
	} {
		if got, changed := p.redact(s); changed || got != s {
			t.Errorf("ordinary text changed: %q -> %q", s, got)
		}
	}
	if len(st.redacted) != 0 {
		t.Errorf("counted: %v", st.redacted)
	}
}

func TestPolicyApply(t *testing.T) {
	cfg := DefaultPolicyConfig()
	cfg.MaxContentBytes = 10
	cfg.ExtraPatterns = []string{`cust-[0-9]{4}`}
	p, st := newTestPolicy(t, cfg)
	r := Record{
		Message: "user cust-1234 logged in with password=pw1",
		Fields: map[string]any{
			"password":                          "plain",
			"http.request.header.Authorization": "Basic abc",
			"token":                             42, // not a string: left alone
			"gen_ai.prompt":                     "0123456789abcdef",
			"gen_ai":                            map[string]any{"completion": "ééééééééé", "usage": map[string]any{"input_tokens": 5}},
			"tool.output":                       []any{"a long", "list of", "things"},
			"tool.input":                        "short",
			"nested":                            map[string]any{"list": []any{"ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"}},
		},
	}
	p.Apply(&r)
	if r.Message != "user [REDACTED:custom] logged in with password=[REDACTED:key_value]" {
		t.Errorf("message: %q", r.Message)
	}
	f := r.Fields
	checks := map[string]any{
		"password":                          "[REDACTED:secret_field]",
		"http.request.header.Authorization": "[REDACTED:secret_field]",
		"token":                             42,
		"gen_ai.prompt":                     "0123456789",
		"tool.output":                       `["a long",`,
		"tool.input":                        "short",
	}
	for k, v := range checks {
		if f[k] != v {
			t.Errorf("%s = %#v, want %#v", k, f[k], v)
		}
	}
	if c := f["gen_ai"].(map[string]any)["completion"]; c != "ééééé" {
		t.Errorf("nested content not limited at a rune boundary: %q", c)
	}
	if l := f["nested"].(map[string]any)["list"].([]any)[0]; l != "[REDACTED:github_token]" {
		t.Errorf("nested list: %v", l)
	}
	if !slices.Equal(r.Flags, []string{FlagRedacted, FlagContentLimited}) {
		t.Errorf("flags %v", r.Flags)
	}
	if st.content["gen_ai.prompt"] != 1 || st.content["gen_ai.completion"] != 1 || st.content["tool.output"] != 1 || st.redacted[RuleSecretField] != 2 {
		t.Errorf("stats: %+v", st)
	}
	// Applying twice changes nothing more (a retried record keeps its bytes).
	before := string(r.AppendJSON(nil))
	p.Apply(&r)
	if after := string(r.AppendJSON(nil)); after != before {
		t.Errorf("not idempotent:\n%s\n%s", before, after)
	}
}

func TestPolicyHashMode(t *testing.T) {
	cfg := DefaultPolicyConfig()
	cfg.ContentMode = ContentHash
	cfg.MaxContentBytes = 4
	p, _ := newTestPolicy(t, cfg)
	r := Record{Fields: map[string]any{"gen_ai.completion": "hello"}}
	p.Apply(&r)
	if r.Fields["gen_ai.completion"] != "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Errorf("hash: %v", r.Fields["gen_ai.completion"])
	}
}

func TestPolicyLimits(t *testing.T) {
	cfg := DefaultPolicyConfig()
	cfg.MaxDepth = 2
	cfg.MaxFields = 5
	p, st := newTestPolicy(t, cfg)
	r := Record{Fields: map[string]any{
		"a": map[string]any{"b": map[string]any{"c": 1}},
		"d": 1, "e": 2, "f": 3, "g": 4, "h": 5,
	}}
	p.Apply(&r)
	if r.Fields["a"].(map[string]any)["b"] != `{"c":1}` {
		t.Errorf("depth not limited: %v", r.Fields["a"])
	}
	// keys in sorted order: a, a.b, d, e, f kept; g, h dropped
	if _, ok := r.Fields["g"]; ok || r.Fields["f"] != 3 || r.Fields[FieldDroppedFields] != int64(2) {
		t.Errorf("fields not capped: %v", r.Fields)
	}
	if !r.HasFlag(FlagDepthLimited) || st.limits[LimitDepth] != 1 || st.limits[LimitFields] != 1 {
		t.Errorf("flags %v stats %v", r.Flags, st.limits)
	}
}

func TestPolicyRedactOff(t *testing.T) {
	cfg := DefaultPolicyConfig()
	cfg.Redact = false
	p, err := NewPolicy(cfg, nil) // nil stats allowed
	if err != nil {
		t.Fatal(err)
	}
	r := Record{Message: "password=x", Fields: map[string]any{"gen_ai.prompt": strings.Repeat("x", 20000)}}
	p.Apply(&r)
	if r.Message != "password=x" || len(r.Fields["gen_ai.prompt"].(string)) != 16384 {
		t.Errorf("redact off: %q %d", r.Message, len(r.Fields["gen_ai.prompt"].(string)))
	}
}

func TestPolicyConfigValidate(t *testing.T) {
	if err := DefaultPolicyConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPolicy(PolicyConfig{}, nil); err != nil {
		t.Fatalf("zero config should take defaults: %v", err)
	}
	bad := PolicyConfig{ExtraPatterns: []string{"(", ""}, MaxContentBytes: -1, ContentMode: "zip", MaxDepth: -1, MaxFields: -2, ContentFields: []string{" "}}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, key := range []string{"extra_patterns[0]", "extra_patterns[1]", "max_content_bytes", "content_mode", "max_depth", "max_fields", "content_fields[0]"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
	if _, err := NewPolicy(bad, nil); err == nil {
		t.Error("NewPolicy accepted a bad config")
	}
}

func TestPolicyRulesClosedSet(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range builtinRules {
		seen[r.name] = true
	}
	seen[RuleSecretField], seen[RuleCustom] = true, true
	for _, n := range PolicyRules {
		if !seen[n] {
			t.Errorf("PolicyRules lists %s, which no rule uses", n)
		}
		delete(seen, n)
	}
	if len(seen) != 0 {
		t.Errorf("rules missing from PolicyRules: %v", seen)
	}
}

// A line nested past the scanner's bound cannot be decoded: it is kept whole
// as the message, and the cap is flagged and counted as a depth cap (once),
// not only as unparsed JSON.
func TestPolicyCountsParserDepthCap(t *testing.T) {
	line := `{"msg":"deep","d":` + strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000) + `}`
	var r Record
	NewParser(ParseOptions{}).Parse([]byte(line), &r)
	if r.Message != line || !r.HasFlag(FlagUnparsedJSON) || !r.HasFlag(FlagDepthLimited) {
		t.Fatalf("flags %v, message kept: %v", r.Flags, r.Message == line)
	}
	p, st := newTestPolicy(t, DefaultPolicyConfig())
	p.Apply(&r)
	if st.limits[LimitDepth] != 1 || st.limits[LimitFields] != 0 {
		t.Fatalf("stats %v", st.limits)
	}
	// The same payload inside a Docker json-file line.
	docker, _ := json.Marshal(map[string]string{"log": line + "\n", "stream": "stdout"})
	NewParser(ParseOptions{}).Parse(docker, &r)
	if r.Message != line || !r.HasFlag(FlagUnparsedJSON) || !r.HasFlag(FlagDepthLimited) {
		t.Fatalf("docker: flags %v, message kept: %v", r.Flags, r.Message == line)
	}
	// A line that is merely broken is not a depth cap.
	NewParser(ParseOptions{}).Parse([]byte(`{"msg":"broken",`), &r)
	if r.HasFlag(FlagDepthLimited) {
		t.Fatalf("broken line flagged depth_limited: %v", r.Flags)
	}
}

// TestCandidatesFindEveryLiteral: the two-byte prefilter of the redaction
// literals finds exactly the rules a plain case-insensitive search for each
// literal finds, wherever the literal sits (start, middle, end, any case).
func TestCandidatesFindEveryLiteral(t *testing.T) {
	p, _ := newTestPolicy(t, DefaultPolicyConfig())
	naive := func(s string) uint64 {
		var mask uint64
		low := strings.ToLower(s)
		for i, r := range p.rules {
			for _, l := range r.lits {
				if i < 64 && strings.Contains(low, l) {
					mask |= 1 << i
				}
			}
		}
		return mask
	}
	var ins []string
	for _, r := range p.rules {
		for _, l := range r.lits {
			up := strings.ToUpper(l)
			ins = append(ins, l, up, "x"+l, l+"x", "lorem ipsum "+up+" dolor", "pa"+l[:len(l)-1], l[:len(l)-1])
		}
	}
	ins = append(ins, "", "a", "lorem ipsum dolor sit amet", "pwd", "ey", "\xff\x00xox")
	for _, s := range ins {
		if got, want := p.candidates(s), naive(s); got != want {
			t.Errorf("candidates(%q) = %b, want %b", s, got, want)
		}
	}
}

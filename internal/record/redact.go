package record

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Redaction rule names: the closed set of values PolicyStats.Redacted gets,
// so a component can pre-create its counters at 0.
const (
	RuleAuthorization = "authorization"  // Authorization: <scheme> <credentials>
	RuleBearer        = "bearer_token"   // Bearer <token> anywhere
	RuleJWT           = "jwt"            // a bare JSON Web Token
	RuleAPIKey        = "api_key"        // sk-…, sk-proj-…, sk-ant-…, Stripe sk_live_…
	RuleAWSKey        = "aws_access_key" // AKIA…/ASIA… access key ids
	RuleGitHubToken   = "github_token"   // ghp_/gho_/ghu_/ghs_/ghr_…, github_pat_…
	RuleSlackToken    = "slack_token"    // xoxb-/xoxp-/xoxa-/…
	RulePrivateKey    = "private_key"    // PEM private key blocks
	RuleURLPassword   = "url_password"   // scheme://user:password@host
	RuleKeyValue      = "key_value"      // password=…, secret=…, token=…, api_key=…
	RuleJSONSecret    = "json_secret"    // "password":"…" inside a text value
	RuleSecretField   = "secret_field"   // a field named password, token, api_key, …
	RuleCustom        = "custom"         // PolicyConfig.ExtraPatterns
)

// PolicyRules lists every rule name, in the order the rules run.
var PolicyRules = []string{
	RuleAuthorization, RuleBearer, RuleJWT, RuleAPIKey, RuleAWSKey, RuleGitHubToken, RuleSlackToken,
	RulePrivateKey, RuleURLPassword, RuleKeyValue, RuleJSONSecret, RuleSecretField, RuleCustom,
}

type redactRule struct {
	name string
	re   *regexp.Regexp
	// group is the submatch replaced (0: the whole match), so context such as
	// "Authorization: Bearer " or "password=" stays readable.
	group int
	// lits: the rule can only match if one of these (lower-case) appears;
	// a cheap scan that spares the regexp on most strings.
	lits []string
	// check, if set, must accept the secret (fewer false positives).
	check func(string) bool
}

const secretNames = `password|passwd|pwd|secret|client_secret|token|access_token|refresh_token|id_token|auth_token|api_key|apikey|api-key|private_key`

var builtinRules = []redactRule{
	{name: RuleAuthorization, group: 1, lits: []string{"authorization"},
		re: regexp.MustCompile(`(?i)\bauthorization["']?\s*[:=]\s*["']?(?:(?:basic|bearer|token|digest|negotiate|apikey)\s+)?([^\s"',;]+)`)},
	{name: RuleBearer, group: 1, lits: []string{"bearer"}, check: hasDigit,
		re: regexp.MustCompile(`(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{16,}=*)`)},
	{name: RuleJWT, lits: []string{"eyj"},
		re: regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)},
	{name: RuleAPIKey, lits: []string{"sk-", "sk_", "rk_"},
		re: regexp.MustCompile(`\b(?:sk-(?:proj-|ant-(?:api\d\d-)?|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,})`)},
	{name: RuleAWSKey, lits: []string{"akia", "asia"},
		re: regexp.MustCompile(`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b`)},
	{name: RuleGitHubToken, lits: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"},
		re: regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b`)},
	{name: RuleSlackToken, lits: []string{"xox"},
		re: regexp.MustCompile(`\bxox[abposre]-[A-Za-z0-9-]{10,}`)},
	{name: RulePrivateKey, lits: []string{"private key"},
		re: regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----`)},
	{name: RuleURLPassword, group: 1, lits: []string{"://"},
		re: regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.\-]{1,20}://[^\s:/@"']+:([^\s/@"']+)@`)},
	// The literals are the secret names followed by what the pattern
	// requires next ('=' or a closing quote): "=" alone is in most messages
	// and would run the regexp on nearly every string.
	{name: RuleKeyValue, group: 1, lits: []string{"password=", "passwd=", "pwd=", "secret=", "token=", "api_key=", "apikey=", "api-key=", "private_key="},
		re: regexp.MustCompile(`(?i)\b(?:` + secretNames + `)=([^\s&,;"']+)`)},
	{name: RuleJSONSecret, group: 1, lits: []string{`password"`, `passwd"`, `pwd"`, `secret"`, `token"`, `api_key"`, `apikey"`, `api-key"`, `private_key"`, `authorization"`},
		re: regexp.MustCompile(`(?i)"(?:` + secretNames + `|authorization)"\s*:\s*"((?:[^"\\]|\\.)+)"`)},
}

// secretKeys are field names (last dotted segment, lower-case, '-' as '_')
// whose whole string value is a secret.
var secretKeys = func() map[string]bool {
	m := map[string]bool{"authorization": true, "cookie": true, "set_cookie": true, "x_api_key": true}
	for _, n := range strings.Split(secretNames, "|") {
		m[strings.ReplaceAll(n, "-", "_")] = true
	}
	return m
}()

func secretKeyName(key string) string {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		key = key[i+1:]
	}
	if len(key) > 16 {
		return ""
	}
	return strings.ReplaceAll(strings.ToLower(key), "-", "_")
}

// isSecretKey is p.secret[secretKeyName(key)] without its string passes:
// it runs for every string field of every record. Keys with non-ASCII
// bytes take the general path (Unicode lower-casing).
func (p *Policy) isSecretKey(key string) bool {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		key = key[i+1:]
	}
	if len(key) > 16 {
		return p.secret[""]
	}
	var buf [16]byte
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= utf8.RuneSelf {
			return p.secret[secretKeyName(key)]
		}
		if c == '-' {
			c = '_'
		}
		buf[i] = lowerTab[c]
	}
	return p.secret[string(buf[:len(key)])]
}

const redactedPrefix = "[REDACTED:"

// ruleLit is one literal of one rule, indexed by its first byte.
type ruleLit struct {
	rule   int
	lit    string
	second byte // lower-cased second byte: a cheap reject before EqualFold
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// litIndex maps a byte (either case) to the literals that start with it, so
// one pass over a string finds every rule that could match it. pair is a
// bitset over every two-byte window: the window of each literal's first two
// bytes, folded with |0x20 (which maps an ASCII letter of either case to its
// lower case, and other bytes to some byte) is set. A position of a string
// whose folded window is not set cannot start a literal, so most positions
// cost one 16-bit load and one bit test; the few that pass are checked
// exactly against the literals of their first byte. A one-byte literal sets
// every window starting with its byte.
type litIndex struct {
	byFirst [256][]ruleLit
	pair    [1 << 16 / 64]uint64 // 8 KiB, indexed by window (first byte low)
	oneByte bool                 // some literal is a single byte (the last position needs a look)
}

// lowerTab is lowerASCII as a table, for the per-byte loop.
var lowerTab = func() (t [256]byte) {
	for i := range t {
		t[i] = lowerASCII(byte(i))
	}
	return t
}()

// window is the folded two-byte window starting with a, b.
func window(a, b byte) uint32 { return uint32(a|0x20) | uint32(b|0x20)<<8 }

func newLitIndex(rules []redactRule) *litIndex {
	var idx litIndex
	for i, r := range rules {
		if i >= 64 || r.lits == nil {
			continue
		}
		for _, l := range r.lits {
			rl := ruleLit{rule: i, lit: l}
			lo := lowerASCII(l[0])
			if len(l) > 1 {
				rl.second = lowerASCII(l[1])
				w := window(l[0], l[1])
				idx.pair[w>>6] |= 1 << (w & 63)
			} else {
				idx.oneByte = true
				for b := range 256 {
					w := window(l[0], byte(b))
					idx.pair[w>>6] |= 1 << (w & 63)
				}
			}
			idx.byFirst[lo] = append(idx.byFirst[lo], rl)
			if up := lo - 'a' + 'A'; lo >= 'a' && lo <= 'z' {
				idx.byFirst[up] = append(idx.byFirst[up], rl)
			}
		}
	}
	return &idx
}

// candidates is the set of rules (bit i = rule i) whose literals occur in s,
// ASCII case ignored, found in a single pass. Rules without literals (and any
// past the 64th) are not in the set: they always run.
func (p *Policy) candidates(s string) uint64 {
	var mask uint64
	idx := p.lits
	if len(s) > 1 {
		// window(s[i-1], s[i]), the folded first byte carried over: one
		// byte load per position.
		prev := uint32(s[0] | 0x20)
		for i := 1; i < len(s); i++ {
			c := uint32(s[i] | 0x20)
			w := prev | c<<8
			prev = c
			if idx.pair[w>>6]&(1<<(w&63)) == 0 {
				continue
			}
			mask = idx.match(s, i-1, lowerTab[s[i]], mask)
		}
	}
	if idx.oneByte && len(s) > 0 {
		mask = idx.match(s, len(s)-1, 0, mask)
	}
	return mask
}

// match adds to mask the rules of the literals that occur in s at i; next
// is the lower-cased byte after i (0 at the end of s).
func (idx *litIndex) match(s string, i int, next byte, mask uint64) uint64 {
	for _, rl := range idx.byFirst[s[i]] {
		bit := uint64(1) << rl.rule
		if mask&bit == 0 && i+len(rl.lit) <= len(s) && (len(rl.lit) == 1 || next == rl.second) &&
			strings.EqualFold(s[i:i+len(rl.lit)], rl.lit) {
			mask |= bit
		}
	}
	return mask
}

// redact runs every rule over s and returns the redacted text. A rule's
// literals are a necessary condition of its pattern, so rules whose
// literals are absent are skipped without running the regexp.
func (p *Policy) redact(s string) (string, bool) {
	changed := false
	mask := p.candidates(s)
	for i := range p.rules {
		rule := &p.rules[i]
		if rule.lits != nil && i < 64 && mask&(1<<i) == 0 {
			continue
		}
		locs := rule.re.FindAllStringSubmatchIndex(s, -1)
		if locs == nil {
			continue
		}
		var b strings.Builder
		last := 0
		for _, loc := range locs {
			start, end := loc[2*rule.group], loc[2*rule.group+1]
			if start < 0 || start < last {
				continue
			}
			secret := s[start:end]
			if strings.Contains(secret, redactedPrefix) || (rule.check != nil && !rule.check(secret)) {
				continue
			}
			b.WriteString(s[last:start])
			b.WriteString(redactedPrefix + rule.name + "]")
			last = end
			if p.stats != nil {
				p.stats.Redacted(rule.name)
			}
		}
		if last == 0 && b.Len() == 0 {
			continue
		}
		b.WriteString(s[last:])
		s = b.String()
		changed = true
		mask = p.candidates(s) // the text changed: later rules see the redacted string
	}
	return s, changed
}

func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }

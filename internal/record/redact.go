package record

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/agentobs/agentobs/internal/textscan"
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
	if n := len(key); n == 0 || !p.secretShapes[n].has(buf[0], buf[n-1]) {
		return false
	}
	return p.secret[string(buf[:len(key)])]
}

// secretShape is a prefilter for isSecretKey, for one length of name: bit
// c&63 of first is set when some secret name of that length starts with
// byte c, of last when one ends with it. Most field names fail it, and
// skip the hash and the look-up.
type secretShape struct{ first, last uint64 }

func (s secretShape) has(first, last byte) bool {
	return s.first&(1<<(first&63)) != 0 && s.last&(1<<(last&63)) != 0
}

// shapesOf is the prefilter of the names in secret, by length (0 to 16).
func shapesOf(secret map[string]bool) (s [17]secretShape) {
	for k := range secret {
		if n := len(k); n > 0 && n < len(s) {
			s[n].first |= 1 << (k[0] & 63)
			s[n].last |= 1 << (k[n-1] & 63)
		}
	}
	return s
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
// one pass over a string finds every rule that could match it. Its bitsets
// are over two-byte windows folded with |0x20 (which maps an ASCII letter of
// either case to its lower case, and other bytes to some byte): first holds
// the window of each literal's first two bytes, second that of its second
// and third, any their union. Every literal has at least three bytes, so
// wherever it occurs one of its two windows sits at an even position: only
// every second position is looked at (one bit test each, four of them from
// one 8-byte load). A window in any is checked as the second window of a literal that
// starts at the byte before it and as the first window of one that starts
// at it, each by the other window's bit; the few that pass both are checked
// exactly against the literals of their first byte.
type litIndex struct {
	byFirst            [256][]ruleLit
	first, second, any bitset
	// tri finds where a literal may start in strings long enough for the
	// vector scan (textscan.Scans), 32 positions a step: candidates
	// checks only those positions exactly (candidatesVector).
	tri *textscan.Trigrams
}

// bitset is a set of folded windows: 8 KiB, indexed by window (first byte low).
type bitset [1 << 16 / 64]uint64

func (b *bitset) set(w uint32)      { b[w>>6] |= 1 << (w & 63) }
func (b *bitset) has(w uint32) bool { return b[w>>6]&(1<<(w&63)) != 0 }

// lowerTab is lowerASCII as a table, for the per-byte loop.
var lowerTab = func() (t [256]byte) {
	for i := range t {
		t[i] = lowerASCII(byte(i))
	}
	return t
}()

// window is the folded two-byte window starting with a, b.
func window(a, b byte) uint32 { return uint32(a|0x20) | uint32(b|0x20)<<8 }

// newLitIndex indexes the literals of rules; a literal shorter than three
// bytes is a programming error (the rules are built in).
func newLitIndex(rules []redactRule) *litIndex {
	var idx litIndex
	var all []string
	for i, r := range rules {
		if i >= 64 || r.lits == nil {
			continue
		}
		for _, l := range r.lits {
			if len(l) < 3 {
				panic(fmt.Sprintf("redaction literal %q of rule %s: want at least three bytes", l, r.name))
			}
			all = append(all, l)
			w1, w2 := window(l[0], l[1]), window(l[1], l[2])
			idx.first.set(w1)
			idx.second.set(w2)
			idx.any.set(w1)
			idx.any.set(w2)
			lo := lowerASCII(l[0])
			rl := ruleLit{rule: i, lit: l, second: lowerASCII(l[1])}
			idx.byFirst[lo] = append(idx.byFirst[lo], rl)
			if up := lo - 'a' + 'A'; lo >= 'a' && lo <= 'z' {
				idx.byFirst[up] = append(idx.byFirst[up], rl)
			}
		}
	}
	idx.tri = textscan.NewTrigrams(all)
	return &idx
}

// candidates is the set of rules (bit i = rule i) whose literals occur in s,
// ASCII case ignored: by the vector scan where it takes s
// (candidatesVector), else a word at a time (windows). Rules without
// literals (and any past the 64th) are not in the set: they always run.
func (p *Policy) candidates(s string) uint64 {
	if textscan.Scans(len(s)) {
		return p.lits.candidatesVector(s)
	}
	return p.lits.windows(s)
}

// windows is candidates in a single pass over every second position: the
// four windows at even positions of each 8-byte load are tested against
// any from that load, and only a window in it is looked at further (at).
func (idx *litIndex) windows(s string) uint64 {
	var mask uint64
	j := 0
	for ; j+8 <= len(s); j += 8 {
		w := load8(s, j) | 0x2020202020202020 // window's |0x20 on all eight bytes
		w0, w1, w2, w3 := uint32(w)&0xffff, uint32(w>>16)&0xffff, uint32(w>>32)&0xffff, uint32(w>>48)
		if idx.any.has(w0) {
			mask = idx.at(s, j, w0, mask)
		}
		if idx.any.has(w1) {
			mask = idx.at(s, j+2, w1, mask)
		}
		if idx.any.has(w2) {
			mask = idx.at(s, j+4, w2, mask)
		}
		if idx.any.has(w3) {
			mask = idx.at(s, j+6, w3, mask)
		}
	}
	for ; j+1 < len(s); j += 2 {
		if win := window(s[j], s[j+1]); idx.any.has(win) {
			mask = idx.at(s, j, win, mask)
		}
	}
	return mask
}

// candidatesVector is candidates for a string the vector scan takes: the
// positions Trigrams passes are checked exactly (match), and the literals
// that start past the scan's blocks are found a word at a time (windows
// over the rest, which holds them whole).
func (idx *litIndex) candidatesVector(s string) uint64 {
	var mask uint64
	j := 0
	for {
		i, ok := idx.tri.Next(s, j)
		if !ok {
			j = i
			break
		}
		mask = idx.match(s, i, lowerTab[s[i+1]], mask)
		j = i + 1
	}
	return mask | idx.windows(s[j:])
}

// at adds to mask the rules of the literals that occur in s with one of
// their two first windows at the even position j; win is that window (in
// any).
func (idx *litIndex) at(s string, j int, win uint32, mask uint64) uint64 {
	if j > 0 && idx.second.has(win) && idx.first.has(window(s[j-1], s[j])) {
		mask = idx.match(s, j-1, lowerTab[s[j]], mask)
	}
	if j+2 < len(s) && idx.first.has(win) && idx.second.has(window(s[j+1], s[j+2])) {
		mask = idx.match(s, j, lowerTab[s[j+1]], mask)
	}
	return mask
}

// match adds to mask the rules of the literals that occur in s at i; next
// is the lower-cased byte after i (0 at the end of s).
func (idx *litIndex) match(s string, i int, next byte, mask uint64) uint64 {
	for _, rl := range idx.byFirst[s[i]] {
		bit := uint64(1) << rl.rule
		if mask&bit == 0 && i+len(rl.lit) <= len(s) && next == rl.second &&
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

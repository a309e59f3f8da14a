package record

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// PolicyConfig is the edge policy shared by the collector and the shipper,
// applied to every record before it leaves the host.
type PolicyConfig struct {
	// Redact replaces secrets with "[REDACTED:<rule>]". Default true.
	Redact bool `yaml:"redact"`
	// ExtraPatterns are additional regular expressions (RE2 syntax) whose
	// matches are redacted under the rule "custom". Default none.
	ExtraPatterns []string `yaml:"extra_patterns"`
	// MaxContentBytes limits each content field (prompts, completions, tool
	// input/output). Default 16384; 0 means the default.
	MaxContentBytes int `yaml:"max_content_bytes"`
	// ContentMode is what happens to a longer content field: "truncate" keeps
	// its first MaxContentBytes bytes, "hash" replaces it by "sha256:<hex>".
	// Default "truncate".
	ContentMode string `yaml:"content_mode"`
	// ContentFields are the content keys, matched as flat dotted keys and as
	// nested paths. Default DefaultContentFields.
	ContentFields []string `yaml:"content_fields"`
	// MaxDepth is the deepest nesting kept; deeper objects are replaced by
	// their JSON text (FlagDepthLimited). Default 20; 0 means the default.
	MaxDepth int `yaml:"max_depth"`
	// MaxFields caps the number of keys at all levels; the rest are dropped
	// (in sorted key order, so the choice is deterministic) and counted in
	// FieldDroppedFields (FlagDepthLimited). Default 1000; 0 means the default.
	MaxFields int `yaml:"max_fields"`
}

// DefaultContentFields are the GenAI and tool fields that carry prompts,
// completions and tool payloads (OTel GenAI semantic conventions).
var DefaultContentFields = []string{
	"gen_ai.prompt", "gen_ai.completion", "gen_ai.input.messages", "gen_ai.output.messages",
	"gen_ai.system_instructions", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
	"tool.output", "tool.input",
}

// Content modes.
const (
	ContentTruncate = "truncate"
	ContentHash     = "hash"
)

// DefaultPolicyConfig returns the defaults documented on PolicyConfig.
func DefaultPolicyConfig() PolicyConfig {
	return PolicyConfig{
		Redact:          true,
		MaxContentBytes: 16 << 10,
		ContentMode:     ContentTruncate,
		ContentFields:   slices.Clone(DefaultContentFields),
		MaxDepth:        20,
		MaxFields:       1000,
	}
}

// Validate reports every problem, each naming its key.
func (c PolicyConfig) Validate() error {
	var errs []error
	for i, p := range c.ExtraPatterns {
		if _, err := regexp.Compile(p); err != nil {
			errs = append(errs, fmt.Errorf("extra_patterns[%d]: %w", i, err))
		} else if p == "" {
			errs = append(errs, fmt.Errorf("extra_patterns[%d]: empty pattern would match everywhere", i))
		}
	}
	if c.MaxContentBytes < 0 {
		errs = append(errs, fmt.Errorf("max_content_bytes: %d is negative; use 0 for the default 16384", c.MaxContentBytes))
	}
	switch c.ContentMode {
	case "", ContentTruncate, ContentHash:
	default:
		errs = append(errs, fmt.Errorf("content_mode: %q is not %q or %q", c.ContentMode, ContentTruncate, ContentHash))
	}
	if c.MaxDepth < 0 {
		errs = append(errs, fmt.Errorf("max_depth: %d is negative; use 0 for the default 20", c.MaxDepth))
	}
	if c.MaxFields < 0 {
		errs = append(errs, fmt.Errorf("max_fields: %d is negative; use 0 for the default 1000", c.MaxFields))
	}
	for i, f := range c.ContentFields {
		if strings.TrimSpace(f) == "" {
			errs = append(errs, fmt.Errorf("content_fields[%d]: empty field name", i))
		}
	}
	return errors.Join(errs...)
}

// PolicyStats receives what the policy did, for the component's metrics
// (counters labelled by rule, field or kind). A nil PolicyStats is allowed.
type PolicyStats interface {
	Redacted(rule string)
	ContentLimited(field string)
	Limited(kind string) // LimitDepth or LimitFields
}

// Limit kinds passed to PolicyStats.Limited.
const (
	LimitDepth  = "depth"
	LimitFields = "fields"
)

// Policy applies a PolicyConfig. It is safe for concurrent use.
type Policy struct {
	cfg    PolicyConfig
	rules  []redactRule
	lits   *litIndex       // first byte → rule literals: one pass finds the candidate rules
	secret map[string]bool // field names whose string value is a secret
	// secretShapes rule out most field names before a look-up in secret.
	secretShapes [17]secretShape
	stats        PolicyStats
	// contentTops are the top-level keys through which a content field can
	// be reached: each field's name and every prefix of it before a dot.
	// contentFirst marks their first bytes (and 0 for an empty key), so
	// most keys are ruled out without a lookup.
	contentTops  map[string]bool
	contentFirst [256]bool
}

// NewPolicy validates cfg, fills zero values with defaults and compiles the
// patterns. It does no I/O.
func NewPolicy(cfg PolicyConfig, stats PolicyStats) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("policy config: %w", err)
	}
	def := DefaultPolicyConfig()
	if cfg.MaxContentBytes == 0 {
		cfg.MaxContentBytes = def.MaxContentBytes
	}
	if cfg.ContentMode == "" {
		cfg.ContentMode = def.ContentMode
	}
	if cfg.ContentFields == nil {
		cfg.ContentFields = def.ContentFields
	}
	if cfg.MaxDepth == 0 {
		cfg.MaxDepth = def.MaxDepth
	}
	if cfg.MaxFields == 0 {
		cfg.MaxFields = def.MaxFields
	}
	p := &Policy{cfg: cfg, stats: stats, rules: builtinRules, secret: secretKeys, secretShapes: shapesOf(secretKeys)}
	for _, pat := range cfg.ExtraPatterns {
		p.rules = append(slices.Clip(p.rules), redactRule{name: RuleCustom, re: regexp.MustCompile(pat)})
	}
	p.lits = newLitIndex(p.rules)
	p.contentTops = map[string]bool{}
	for _, f := range cfg.ContentFields {
		p.contentTops[f] = true
		for i := 0; i < len(f); i++ {
			if f[i] == '.' {
				p.contentTops[f[:i]] = true
			}
		}
	}
	for k := range p.contentTops {
		if k == "" {
			p.contentFirst[0] = true
		} else {
			p.contentFirst[k[0]] = true
		}
	}
	return p, nil
}

// Apply enforces the policy on r in place: redaction of the message and of
// every string field (nested too), then content limits, then depth and
// field-count caps. It records FlagRedacted, FlagContentLimited and
// FlagDepthLimited as they apply.
func (p *Policy) Apply(r *Record) {
	var content, nested bool
	if p.cfg.Redact {
		if s, ok := p.redact(r.Message); ok {
			r.Message = s
			r.AddFlag(FlagRedacted)
		}
		var changed bool
		changed, content, nested = p.redactTop(r.Fields)
		if changed {
			r.AddFlag(FlagRedacted)
		}
	}
	// A line nested past the parser's bound arrives as text already
	// flagged: count that cap here, with the others.
	parsedTooDeep := r.HasFlag(FlagDepthLimited)
	if parsedTooDeep && p.stats != nil {
		p.stats.Limited(LimitDepth)
	}
	if len(r.Fields) == 0 {
		return
	}
	if !p.cfg.Redact { // else redactTop surveyed the fields
		content, nested = p.survey(r.Fields)
	}
	for _, f := range p.cfg.ContentFields {
		if !content {
			break
		}
		if p.limitContent(r.Fields, f) {
			r.AddFlag(FlagContentLimited)
			if p.stats != nil {
				p.stats.ContentLimited(f)
			}
		}
	}
	if nested && p.limitDepth(r.Fields, 1) {
		r.AddFlag(FlagDepthLimited)
		if p.stats != nil && !parsedTooDeep {
			p.stats.Limited(LimitDepth)
		}
	}
	n := len(r.Fields)
	if nested {
		n = countKeys(r.Fields)
	}
	if n > p.cfg.MaxFields {
		budget := p.cfg.MaxFields
		dropped := dropKeys(r.Fields, &budget)
		r.Fields[FieldDroppedFields] = int64(dropped)
		r.AddFlag(FlagDepthLimited)
		if p.stats != nil {
			p.stats.Limited(LimitFields)
		}
	}
}

// survey looks at the top level of m once for what the steps after
// redaction may have to do: content reports that some key leads towards a
// content field (else limitContent finds none), nested that some value is
// an object or array (else limitDepth changes nothing and the key count is
// len(m)). Both may be true where there is nothing to do, never false where
// there is.
func (p *Policy) survey(m map[string]any) (content, nested bool) {
	for k, v := range m {
		content, nested = p.surveyOne(k, v, content, nested)
	}
	return content, nested
}

// surveyOne adds the field k: v to survey's answers so far.
func (p *Policy) surveyOne(k string, v any, content, nested bool) (bool, bool) {
	if !content {
		first := byte(0)
		if k != "" {
			first = k[0]
		}
		content = p.contentFirst[first] && p.contentTops[k]
	}
	if !nested {
		switch v.(type) {
		case map[string]any, []any:
			nested = true
		}
	}
	return content, nested
}

// redactTop is redactMap over a record's top level, with survey's answers
// found on the way: one pass over the fields instead of two. Redaction
// keeps every value's kind, so the answers are survey's after it.
func (p *Policy) redactTop(m map[string]any) (changed, content, nested bool) {
	for k, v := range m {
		if nv, ok := p.redactValue(k, v, 0); ok {
			m[k] = nv
			changed = true
		}
		content, nested = p.surveyOne(k, v, content, nested)
	}
	return changed, content, nested
}

func (p *Policy) redactMap(m map[string]any, depth int) bool {
	changed := false
	for k, v := range m {
		if nv, ok := p.redactValue(k, v, depth); ok {
			m[k] = nv
			changed = true
		}
	}
	return changed
}

func (p *Policy) redactValue(key string, v any, depth int) (any, bool) {
	if depth > maxNesting {
		return v, false
	}
	switch x := v.(type) {
	case string:
		if x != "" && p.isSecretKey(key) && !strings.HasPrefix(x, "[REDACTED:") {
			if p.stats != nil {
				p.stats.Redacted(RuleSecretField)
			}
			return "[REDACTED:" + RuleSecretField + "]", true
		}
		// Hand back v itself when nothing changed: boxing x again would
		// allocate once per string field of every record.
		if r, ok := p.redact(x); ok {
			return r, true
		}
		return v, false
	case map[string]any:
		return x, p.redactMap(x, depth+1)
	case []any:
		changed := false
		for i, e := range x {
			if nv, ok := p.redactValue(key, e, depth+1); ok {
				x[i] = nv
				changed = true
			}
		}
		return x, changed
	}
	return v, false
}

// limitContent applies MaxContentBytes to the field at dotted path name
// (flat key or nested path). Non-string values are measured as JSON.
func (p *Policy) limitContent(m map[string]any, name string) bool {
	if v, ok := m[name]; ok {
		if nv, changed := p.limitValue(v); changed {
			m[name] = nv
			return true
		}
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			if sub, ok := m[name[:i]].(map[string]any); ok && p.limitContent(sub, name[i+1:]) {
				return true
			}
		}
	}
	return false
}

func (p *Policy) limitValue(v any) (any, bool) {
	s, ok := v.(string)
	if !ok {
		if v == nil {
			return v, false
		}
		s = string(appendValue(nil, v, 0))
	}
	if len(s) <= p.cfg.MaxContentBytes {
		return v, false
	}
	if p.cfg.ContentMode == ContentHash {
		sum := sha256.Sum256([]byte(s))
		return "sha256:" + hex.EncodeToString(sum[:]), true
	}
	return string(truncateUTF8([]byte(s), p.cfg.MaxContentBytes)), true
}

// limitDepth replaces objects and arrays nested deeper than MaxDepth by
// their JSON text, which Elasticsearch stores without mapping explosion.
func (p *Policy) limitDepth(m map[string]any, depth int) bool {
	changed := false
	for k, v := range m {
		if nv, ok := p.limitDepthValue(v, depth); ok {
			m[k] = nv
			changed = true
		}
	}
	return changed
}

func (p *Policy) limitDepthValue(v any, depth int) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		if depth >= p.cfg.MaxDepth {
			return string(appendValue(nil, x, 0)), true
		}
		return x, p.limitDepth(x, depth+1)
	case []any:
		if depth >= p.cfg.MaxDepth {
			return string(appendValue(nil, x, 0)), true
		}
		changed := false
		for i, e := range x {
			if nv, ok := p.limitDepthValue(e, depth+1); ok {
				x[i] = nv
				changed = true
			}
		}
		return x, changed
	}
	return v, false
}

func countKeys(m map[string]any) int {
	n := len(m)
	for _, v := range m {
		n += countIn(v)
	}
	return n
}

func countIn(v any) int {
	switch x := v.(type) {
	case map[string]any:
		return countKeys(x)
	case []any:
		n := 0
		for _, e := range x {
			n += countIn(e)
		}
		return n
	}
	return 0
}

// dropKeys keeps the first *budget keys in sorted depth-first order and
// deletes the rest, returning how many keys were removed (nested included).
func dropKeys(m map[string]any, budget *int) int {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dropped := 0
	for _, k := range keys {
		if *budget <= 0 {
			dropped += 1 + countIn(m[k])
			delete(m, k)
			continue
		}
		*budget--
		dropped += dropIn(m[k], budget)
	}
	return dropped
}

func dropIn(v any, budget *int) int {
	switch x := v.(type) {
	case map[string]any:
		return dropKeys(x, budget)
	case []any:
		n := 0
		for _, e := range x {
			n += dropIn(e, budget)
		}
		return n
	}
	return 0
}

package executor

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Tool names, the closed set used as the "tool" metric label.
const (
	ToolSearch     = "search"
	ToolCalculator = "calculator"
	ToolHTTPFetch  = "http_fetch"
	ToolLLMCall    = "llm_call"
)

// Tools lists every simulated tool.
var Tools = []string{ToolSearch, ToolCalculator, ToolHTTPFetch, ToolLLMCall}

// Tool call outcomes, the closed set used as the "outcome" metric label.
const (
	OutcomeSuccess  = "success"
	OutcomeError    = "error"
	OutcomeTimeout  = "timeout"
	OutcomeCanceled = "canceled"
	// OutcomeRejected is a peer that refused the task (queue full, draining).
	OutcomeRejected = "rejected"
)

// ToolOutcomes and PeerOutcomes list the outcomes of tool and peer calls.
var (
	ToolOutcomes = []string{OutcomeSuccess, OutcomeError, OutcomeTimeout, OutcomeCanceled}
	PeerOutcomes = []string{OutcomeSuccess, OutcomeError, OutcomeTimeout, OutcomeCanceled, OutcomeRejected}
)

// ToolConfig shapes one simulated tool.
type ToolConfig struct {
	// Latency is the median latency. Defaults: search 80ms, calculator 2ms,
	// http_fetch 150ms, llm_call 600ms.
	Latency time.Duration `yaml:"latency"`
	// Spread is the sigma of the log-normal latency distribution (0 makes
	// latency constant; 0.5 puts p99 at about 3.2× the median). Default 0.5.
	Spread float64 `yaml:"spread"`
	// FailureRate is the probability that a call fails. Defaults: search
	// 0.02, calculator 0.001, http_fetch 0.05, llm_call 0.03.
	FailureRate float64 `yaml:"failure-rate"`
	// Timeout bounds a call; a slower call fails as a timeout. Default 5s.
	Timeout time.Duration `yaml:"timeout"`
}

// Config describes the tools and the peers of the executor.
type Config struct {
	Search     ToolConfig `yaml:"search"`
	Calculator ToolConfig `yaml:"calculator"`
	HTTPFetch  ToolConfig `yaml:"http_fetch"`
	LLMCall    ToolConfig `yaml:"llm_call"`
	// Model is the simulated model name on llm_call spans. Default "sim-model-1".
	Model string `yaml:"model"`
	// Peers are the peer agents a task may be delegated to, each "URL" or
	// "name=URL" (the name labels spans; default the URL's host). Default none.
	Peers []string `yaml:"peers"`
	// PeerTimeout bounds one delegation, including the peer's work. Default 10s.
	PeerTimeout time.Duration `yaml:"peer-timeout"`
	// MaxDepth is how many delegation hops a task may take; a task that
	// arrived at this depth is not delegated again. Default 2.
	MaxDepth int `yaml:"max-depth"`
	// Seed makes latencies, failures and token counts reproducible. Default 1.
	Seed int64 `yaml:"seed"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Search:      ToolConfig{Latency: 80 * time.Millisecond, Spread: 0.5, FailureRate: 0.02, Timeout: 5 * time.Second},
		Calculator:  ToolConfig{Latency: 2 * time.Millisecond, Spread: 0.5, FailureRate: 0.001, Timeout: 5 * time.Second},
		HTTPFetch:   ToolConfig{Latency: 150 * time.Millisecond, Spread: 0.5, FailureRate: 0.05, Timeout: 5 * time.Second},
		LLMCall:     ToolConfig{Latency: 600 * time.Millisecond, Spread: 0.5, FailureRate: 0.03, Timeout: 5 * time.Second},
		Model:       "sim-model-1",
		PeerTimeout: 10 * time.Second,
		MaxDepth:    2,
		Seed:        1,
	}
}

// Tool returns the configuration of a tool by name.
func (c Config) Tool(name string) (ToolConfig, bool) {
	switch name {
	case ToolSearch:
		return c.Search, true
	case ToolCalculator:
		return c.Calculator, true
	case ToolHTTPFetch:
		return c.HTTPFetch, true
	case ToolLLMCall:
		return c.LLMCall, true
	}
	return ToolConfig{}, false
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	for _, name := range Tools {
		t, _ := c.Tool(name)
		key := "tools." + name
		if t.Latency < 0 {
			errs = append(errs, fmt.Errorf("%s.latency: %v is negative", key, t.Latency))
		}
		if t.Spread < 0 {
			errs = append(errs, fmt.Errorf("%s.spread: %v is negative", key, t.Spread))
		}
		if t.FailureRate < 0 || t.FailureRate > 1 {
			errs = append(errs, fmt.Errorf("%s.failure-rate: %v must be within [0,1]", key, t.FailureRate))
		}
		if t.Timeout <= 0 {
			errs = append(errs, fmt.Errorf("%s.timeout: %v must be positive", key, t.Timeout))
		}
	}
	for _, p := range c.Peers {
		if _, err := parsePeer(p); err != nil {
			errs = append(errs, fmt.Errorf("tools.peers: %w", err))
		}
	}
	if c.PeerTimeout <= 0 {
		errs = append(errs, fmt.Errorf("tools.peer-timeout: %v must be positive", c.PeerTimeout))
	}
	if c.MaxDepth < 0 {
		errs = append(errs, fmt.Errorf("tools.max-depth: %d is negative", c.MaxDepth))
	}
	return errors.Join(errs...)
}

// Peer is a parsed peer agent address.
type Peer struct {
	Name string   // span label
	URL  *url.URL // base URL; tasks are POSTed to URL/tasks
}

func parsePeer(s string) (Peer, error) {
	name, raw, ok := strings.Cut(s, "=")
	if !ok {
		name, raw = "", s
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Peer{}, fmt.Errorf("%q is not an http(s) URL; write http://host:port or name=http://host:port", s)
	}
	if name == "" {
		name = u.Hostname()
	}
	return Peer{Name: name, URL: u}, nil
}

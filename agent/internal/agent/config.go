package agent

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"time"

	"github.com/agentobs/agentobs/agent/internal/env"
	"github.com/agentobs/agentobs/agent/internal/executor"
	"github.com/agentobs/agentobs/agent/internal/policy"
)

// Config is the user-set configuration of one agent.
type Config struct {
	// Name is the agent's service.name and gen_ai.agent.name. Default "agent".
	Name string `yaml:"name"`
	// ID is gen_ai.agent.id and service.instance.id. Default: the host name.
	ID string `yaml:"id"`
	// Version is service.version on every log line and span, and the
	// version label of every agent metric: the release being rolled out (a
	// new prompt, model or tool policy). Default: the binary's build
	// version (BuildVersion).
	Version string `yaml:"release.version"`
	// Track is the release track this instance runs in: stable or canary.
	// It is the track label of every agent metric and agent.track on logs
	// and spans; the canary alerts compare canary against stable. Default
	// stable.
	Track string `yaml:"release.track"`
	// Workers is the number of tasks processed concurrently. Default 4.
	Workers int `yaml:"workers"`
	// QueueSize bounds the tasks waiting for a worker; beyond it tasks are
	// rejected (HTTP 429), which is the agent's backpressure. Default 64.
	QueueSize int `yaml:"queue-size"`
	// DrainTimeout is how long shutdown waits for in-flight tasks before
	// cancelling them. Default 10s.
	DrainTimeout time.Duration `yaml:"drain-timeout"`

	Env      env.Config      `yaml:"env"`
	Policy   policy.Config   `yaml:"policy"`
	Executor executor.Config `yaml:"tools"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "agent-0"
	}
	return Config{
		Name: "agent", ID: host, Version: BuildVersion(), Track: TrackStable, Workers: 4, QueueSize: 64, DrainTimeout: 10 * time.Second,
		Env: env.DefaultConfig(), Policy: policy.DefaultConfig(), Executor: executor.DefaultConfig(),
	}
}

// Arms are the arms a policy may choose: every tool, plus delegation when
// peers are configured.
func (c Config) Arms() []string {
	arms := append([]string(nil), executor.Tools...)
	if len(c.Executor.Peers) > 0 {
		arms = append(arms, policy.ArmDelegate)
	}
	return arms
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name: must not be empty"))
	}
	if c.ID == "" {
		errs = append(errs, errors.New("id: must not be empty"))
	}
	if !versionRe.MatchString(c.Version) {
		errs = append(errs, fmt.Errorf("release.version: %q must be 1-64 characters of letters, digits and . _ + - (a release, e.g. 1.4.0 or 2.0.0-rc1), starting with a letter or digit", c.Version))
	}
	if !slices.Contains(Tracks, c.Track) {
		errs = append(errs, fmt.Errorf("release.track: %q must be one of %v", c.Track, Tracks))
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers: %d must be at least 1", c.Workers))
	}
	if c.QueueSize < 0 {
		errs = append(errs, fmt.Errorf("queue-size: %d is negative", c.QueueSize))
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("drain-timeout: %v is negative", c.DrainTimeout))
	}
	errs = append(errs, c.Env.Validate(), c.Policy.Validate(c.Arms()), c.Executor.Validate())
	return errors.Join(errs...)
}

// Release tracks, the closed set of the track label.
const (
	TrackStable = "stable" // the fleet's current release
	TrackCanary = "canary" // a new release taking a share of the traffic
)

// Tracks is the closed set of Config.Track.
var Tracks = []string{TrackStable, TrackCanary}

// versionRe bounds what a version may be: it becomes a metric label value,
// so it must be a short release name, never free text.
var versionRe = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$`)

// BuildVersion is the version the Go toolchain stamped into the binary: the
// module version of a tagged build, else the first 12 hex digits of the VCS
// revision (with "-dirty" when built from a modified tree), else "dev".
func BuildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" && versionRe.MatchString(v) {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if len(rev) >= 12 {
		return rev[:12] + dirty
	}
	return "dev"
}

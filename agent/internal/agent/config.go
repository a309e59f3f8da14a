package agent

import (
	"errors"
	"fmt"
	"os"
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
	// Workers is the number of tasks processed concurrently. Default 4.
	Workers int `yaml:"workers"`
	// QueueSize bounds the tasks waiting for a worker; beyond it tasks are
	// rejected (HTTP 429), which is the agent's backpressure. Default 64.
	QueueSize int `yaml:"queue_size"`
	// DrainTimeout is how long shutdown waits for in-flight tasks before
	// cancelling them. Default 10s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`

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
		Name: "agent", ID: host, Workers: 4, QueueSize: 64, DrainTimeout: 10 * time.Second,
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
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers: %d must be at least 1", c.Workers))
	}
	if c.QueueSize < 0 {
		errs = append(errs, fmt.Errorf("queue_size: %d is negative", c.QueueSize))
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("drain_timeout: %v is negative", c.DrainTimeout))
	}
	errs = append(errs, c.Env.Validate(), c.Policy.Validate(c.Arms()), c.Executor.Validate())
	return errors.Join(errs...)
}

package agent

import "github.com/agentobs/agentobs/agent/agentmetrics"

// Task sources and outcomes, the closed label sets of the task metrics
// (defined in agent/agentmetrics, which pre-creates them at 0).
const (
	SourceEnv  = agentmetrics.SourceEnv  // the simulated environment's stream
	SourceHTTP = agentmetrics.SourceHTTP // POST /tasks from a user
	SourcePeer = agentmetrics.SourcePeer // POST /tasks from a peer agent (depth ≥ 1)

	TaskSuccess  = agentmetrics.TaskSuccess
	TaskError    = agentmetrics.TaskError
	TaskCanceled = agentmetrics.TaskCanceled
	TaskRejected = agentmetrics.TaskRejected // queue full or draining
)

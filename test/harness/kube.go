package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// Kube is a private throwaway Kubernetes control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok fake nodes) started by
// scripts/kube.sh on free loopback ports, for the Helm chart's tests.
type Kube struct {
	// Kubeconfig is the path of an admin kubeconfig for it.
	Kubeconfig string
	dir        string
}

// StartKube starts a control plane from the binaries `scripts/kube.sh build`
// (make kube) cached. Missing binaries are ErrUnavailable (the test skips, or
// fails under CI=true); anything else that goes wrong is an error with the
// script's output. The returned func stops it and removes its data.
func StartKube() (*Kube, func(), error) {
	dir, err := os.MkdirTemp("", "agentobs-kube-")
	if err != nil {
		return nil, nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, nil, err
	}
	env := append(os.Environ(), "AGENTOBS_KUBE_DIR="+dir, "AGENTOBS_KUBE_NO_BUILD=1",
		"KUBE_APISERVER_PORT="+strconv.Itoa(ports[0]), "ETCD_PORT="+strconv.Itoa(ports[1]),
		"ETCD_PEER_PORT="+strconv.Itoa(ports[2]))
	script := filepath.Join(RepoRoot(), "scripts", "kube.sh")
	stop := func() {
		cmd := exec.Command("bash", script, "down")
		cmd.Env = env
		_ = cmd.Run()
		_ = os.RemoveAll(dir)
	}
	var out bytes.Buffer
	cmd := exec.Command("bash", script, "up")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &out, &out
	if err := cmd.Run(); err != nil {
		logs := tailLogs(dir)
		stop()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			return nil, nil, fmt.Errorf("%w: %s", ErrUnavailable, bytes.TrimSpace(out.Bytes()))
		}
		return nil, nil, fmt.Errorf("scripts/kube.sh up: %v\n%s%s", err, out.Bytes(), logs)
	}
	return &Kube{Kubeconfig: filepath.Join(dir, "kubeconfig"), dir: dir}, stop, nil
}

// Logs returns the last lines of every control-plane log, for a failure message.
func (k *Kube) Logs() string { return tailLogs(k.dir) }

func tailLogs(dir string) string {
	var b bytes.Buffer
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, l := range logs {
		body, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		if len(body) > 2000 {
			body = body[len(body)-2000:]
		}
		fmt.Fprintf(&b, "\n--- %s (tail)\n%s", filepath.Base(l), body)
	}
	return b.String()
}

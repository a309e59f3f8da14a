package helmchart

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/agentobs/agentobs/test/harness"
)

// TestHelmTestHooks: the chart has one `helm test` Pod per component Service.
// A hook can only pass on a kubelet that runs its container (kwok marks Pods
// Running but completes only Job Pods), so here `helm test` must time out
// with its first hook Pod scheduled and Running (helm waits for each hook
// before the next), and what the containers would do is checked apart: each hook's
// target is the Service of its component on that Service's port, and the
// hook's command line, run by the component's real binary against a local
// /readyz, exits 0 for 200 and fails for 503. (The collector image's
// healthcheck is built inside collector/Dockerfile and not run here.)
func TestHelmTestHooks(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ns := c.namespace("hooks", nil)
	rel := "ao-hooks"
	r := c.install(ns, rel, loadChart(t, chartDir), values(t, ""))

	services := map[string]corev1.Service{}
	svcs, err := c.cs.CoreV1().Services(ns).List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs.Items {
		services[s.Name] = s
	}
	var hooks []*release.Hook
	for _, h := range r.Hooks {
		for _, e := range h.Events {
			if e == release.HookTest {
				hooks = append(hooks, h)
			}
		}
	}
	if len(hooks) == 0 || len(hooks) != len(services) {
		t.Fatalf("%d test hooks for %d Services, want one per Service", len(hooks), len(services))
	}

	specs := make([]corev1.Pod, len(hooks))
	for i, h := range hooks {
		if err := yaml.UnmarshalStrict([]byte(h.Manifest), &specs[i]); err != nil {
			t.Fatalf("hook %s: %v", h.Name, err)
		}
	}

	// helm runs the hooks one after the other and waits for each to
	// complete, which none does here: it must time out with the first hook
	// Pod created, and that Pod then gets scheduled and Running on a fake
	// node (polled, as kwok may mark it Running only after the timeout).
	rt := action.NewReleaseTesting(c.helm(ns))
	rt.Namespace, rt.Timeout = ns, 5*time.Second
	done := step(t, "helm test (times out)")
	_, err = rt.Run(rel)
	done()
	if err == nil {
		t.Error("helm test passed without a kubelet: a hook Pod was completed by something that did not run it")
	}
	harness.Eventually(t, time.Minute, func() (bool, string) {
		var created, problems []string
		for i, spec := range specs {
			pod, err := c.cs.CoreV1().Pods(ns).Get(context.Background(), spec.Name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			created = append(created, pod.Name)
			if pod.Spec.NodeName == "" || pod.Status.Phase != corev1.PodRunning {
				problems = append(problems, fmt.Sprintf("hook %s: node %q phase %s, want scheduled and Running", hooks[i].Name, pod.Spec.NodeName, pod.Status.Phase))
			}
		}
		if len(created) == 0 {
			problems = append(problems, "helm test created no hook Pod")
		}
		return len(problems) == 0, strings.Join(problems, "; ")
	})

	done = step(t, "go build indexer shipper agent")
	bins := buildComponents(t)
	done()
	for i, h := range hooks {
		spec := specs[i]
		ctr := spec.Spec.Containers[0]
		argv := append(append([]string{}, ctr.Command...), ctr.Args...)
		target := hookTarget(argv)
		host, port, err := net.SplitHostPort(target)
		if err != nil {
			t.Errorf("hook %s: no host:port in %v", h.Name, argv)
			continue
		}
		svc, ok := services[strings.TrimSuffix(host, "."+ns+".svc")]
		if !ok || !strings.HasSuffix(host, "."+ns+".svc") {
			t.Errorf("hook %s: asks %s, not a Service of the release in %s", h.Name, host, ns)
			continue
		}
		if strconv.Itoa(int(svc.Spec.Ports[0].Port)) != port {
			t.Errorf("hook %s: port %s, Service %s serves %d", h.Name, port, svc.Name, svc.Spec.Ports[0].Port)
		}
		bin := bins[path.Base(strings.Split(ctr.Image, ":")[0])]
		if bin == "" || len(ctr.Command) > 0 {
			t.Logf("hook %s: %v runs in the collector image only; not run here", h.Name, argv)
			continue
		}
		for _, tc := range []struct {
			code   int
			passes bool
		}{{http.StatusOK, true}, {http.StatusServiceUnavailable, false}} {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/readyz" {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tc.code)
			}))
			local := strings.Replace(strings.Join(ctr.Args, "\x00"), target, strings.TrimPrefix(srv.URL, "http://"), 1)
			out, err := exec.Command(bin, strings.Split(local, "\x00")...).CombinedOutput()
			srv.Close()
			if (err == nil) != tc.passes {
				t.Errorf("hook %s: %s %v against /readyz %d: err %v, want passing=%v\n%s", h.Name, bin, ctr.Args, tc.code, err, tc.passes, out)
			}
		}
	}
	// Failed hook Pods stay for `kubectl logs` (hook-delete-policy keeps them
	// until the next `helm test`), and `helm uninstall` does not delete
	// hooks: remove them as a user would, then the uninstall must be clean.
	for _, h := range hooks {
		_ = c.cs.CoreV1().Pods(ns).Delete(context.Background(), h.Name, metav1.DeleteOptions{})
	}
	c.uninstall(ns, rel)
}

// hookTarget finds host:port in a hook's command line (-http.addr=host:port
// or a URL).
func hookTarget(argv []string) string {
	for _, a := range argv {
		if v, ok := strings.CutPrefix(a, "-http.addr="); ok {
			return v
		}
		if v, ok := strings.CutPrefix(a, "http://"); ok {
			return strings.SplitN(v, "/", 2)[0]
		}
	}
	return ""
}

// buildComponents builds the binaries the hook images run, keyed by image
// name (agentobs/indexer → indexer).
func buildComponents(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	names := []string{"indexer", "shipper", "agent"}
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, n := range names {
		args = append(args, "./"+n)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = harness.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bins := map[string]string{}
	for _, n := range names {
		bins[n] = filepath.Join(dir, n)
	}
	return bins
}

package tail

import (
	"path/filepath"
	"regexp"
	"strings"
)

var (
	// /var/log/containers/<pod>_<namespace>_<container>-<id>.log (kubelet symlinks)
	k8sContainerLog = regexp.MustCompile(`^([^_]+)_([^_]+)_(.+)-([0-9a-f]{64})\.log$`)
	// /var/lib/docker/containers/<id>/<id>-json.log
	dockerJSONLog = regexp.MustCompile(`^([0-9a-f]{64})-json\.log`)
	hex64         = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// pathMeta derives container and Kubernetes metadata from the well-known
// log paths of Docker and the kubelet, as ECS fields.
func pathMeta(path string) map[string]any {
	base := filepath.Base(path)
	if m := k8sContainerLog.FindStringSubmatch(base); m != nil {
		return map[string]any{"kubernetes.pod.name": m[1], "kubernetes.namespace": m[2], "container.name": m[3], "container.id": m[4]}
	}
	if m := dockerJSONLog.FindStringSubmatch(base); m != nil {
		return map[string]any{"container.id": m[1]}
	}
	// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log
	parts := strings.Split(filepath.ToSlash(path), "/")
	if n := len(parts); n >= 3 && n >= 4 && parts[n-4] == "pods" {
		if ns := strings.SplitN(parts[n-3], "_", 3); len(ns) == 3 {
			return map[string]any{"kubernetes.namespace": ns[0], "kubernetes.pod.name": ns[1], "kubernetes.pod.uid": ns[2], "container.name": parts[n-2]}
		}
	}
	if d := filepath.Base(filepath.Dir(path)); hex64.MatchString(d) {
		return map[string]any{"container.id": d}
	}
	return nil
}

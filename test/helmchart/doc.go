// Package helmchart installs helm/agentobs on a real Kubernetes control plane
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok fake
// nodes, started by scripts/kube.sh on loopback) through the Helm Go SDK:
// strict server-side validation of every object, install with the default
// and the all-on values (with the operators' own CRDs), upgrade from an
// earlier chart, rollouts under the PodDisruptionBudget, the selectors of
// Services, NetworkPolicies and the canary track checked against the Pods the
// controllers made, `helm test`, and an uninstall that leaves nothing behind.
//
// No kubelet and no container runtime run here: kwok marks Pods Running and
// Ready, so what is proven is what the API server, the admission chain and
// the controllers decide; whether the containers start and talk to Kafka and
// Elasticsearch needs a real cluster.
package helmchart

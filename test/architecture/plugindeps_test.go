package architecture

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/agentobs/agentobs/test/harness"
)

// pluginMustNotLink are import paths (prefixes) the collector plugin must
// not link. Every package a Fluent Bit process loads with the plugin
// costs resident memory in it (its code, its tables, its init work); the
// OTel SDK with its OTLP exporter and gRPC came in through
// internal/telemetry and cost about 3.5 MiB of resident pages, although
// the plugin exports no spans. internal/tracing keeps them apart.
var pluginMustNotLink = []string{
	"google.golang.org/grpc",
	"go.opentelemetry.io/otel/sdk",
	"go.opentelemetry.io/otel/exporters",
	"github.com/agentobs/agentobs/internal/tracing",
}

func TestPluginLinksNoTracingSDK(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./collector")
	cmd.Dir = harness.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./collector: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps ./collector listed %d packages; want the plugin's whole closure", len(deps))
	}
	for _, d := range deps {
		for _, bad := range pluginMustNotLink {
			if d == bad || strings.HasPrefix(d, bad+"/") {
				t.Errorf("the collector plugin links %s (kept out: see pluginMustNotLink)", d)
			}
		}
	}
}

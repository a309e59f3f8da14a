package helmchart

import (
	"flag"
	"os"
	"testing"

	"github.com/agentobs/agentobs/test/harness"
)

// kube is the private control plane every test of the package shares: the
// first test that needs it starts it (a few seconds from cached binaries),
// TestMain stops it.
var kube harness.Shared[*harness.Kube]

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	kube.Close()
	os.Exit(code)
}

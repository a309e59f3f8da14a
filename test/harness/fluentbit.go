package harness

import (
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	fluentBitOnce sync.Once
	fluentBitPath string
	fluentBitErr  string
)

// FluentBit is the path of the real Fluent Bit binary the plugin is tested
// in, found by scripts/fluent-bit.sh --no-build (AGENTOBS_FLUENT_BIT, PATH,
// the cached build). It never builds: `make test` builds it before the tests
// run. Without one the test fails under CI=true or AGENTOBS_REQUIRE_STACK=1
// and is skipped otherwise.
func FluentBit(t testing.TB) string {
	t.Helper()
	fluentBitOnce.Do(func() {
		cmd := exec.Command("bash", filepath.Join(RepoRoot(), "scripts", "fluent-bit.sh"), "--no-build")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		fluentBitPath = strings.TrimSpace(string(out))
		if err != nil || fluentBitPath == "" {
			fluentBitErr = strings.TrimSpace(stderr.String())
			if fluentBitErr == "" {
				fluentBitErr = "not on PATH, AGENTOBS_FLUENT_BIT unset, no cached build"
			}
		}
	})
	if fluentBitErr != "" {
		if required() {
			t.Fatalf("real Fluent Bit not found (%s): run scripts/fluent-bit.sh to build it", fluentBitErr)
		}
		t.Skipf("real Fluent Bit not found (%s): run scripts/fluent-bit.sh to build it", fluentBitErr)
	}
	return fluentBitPath
}

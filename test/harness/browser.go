package harness

import (
	"errors"
	"os"
	"os/exec"
	"testing"
)

// RequireChromium returns the path of a Chromium for browser tests:
// AGENTOBS_CHROMIUM, else chromium or chromium-browser on PATH
// (scripts/chromium.sh installs Debian's). Missing, it fails the test under
// CI=true (or AGENTOBS_REQUIRE_STACK=1) and skips it otherwise.
func RequireChromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("AGENTOBS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	unavailable(t, "Chromium", errors.New("not on PATH and AGENTOBS_CHROMIUM unset; install it with scripts/chromium.sh"))
	return ""
}

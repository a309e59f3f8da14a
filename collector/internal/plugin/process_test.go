package plugin

import (
	"io"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// TestProcessGoMemoryLimit: the Go runtime inside Fluent Bit gets the
// largest Go_Memory_Limit of the process's sections (48 MiB by default), and
// GOMEMLIMIT in the environment wins over every section.
func TestProcessGoMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	p := NewProcess(io.Discard)
	defer p.Exit(5 * time.Second)
	f := func(props MapConfig, env string, want int64) {
		t.Helper()
		t.Setenv("GOMEMLIMIT", env)
		props["Brokers"] = noBroker
		if _, err := p.Init(props); err != nil {
			t.Fatal(err)
		}
		if got := debug.SetMemoryLimit(-1); got != want {
			t.Errorf("after %v (GOMEMLIMIT %q): Go memory limit %d, want %d", props, env, got, want)
		}
	}
	f(MapConfig{"Instance": "a"}, "", DefaultGoMemoryLimit)
	f(MapConfig{"Instance": "b", "Go_Memory_Limit": "64M"}, "", 64<<20)
	f(MapConfig{"Instance": "c", "Go_Memory_Limit": "32M"}, "", 64<<20)
	f(MapConfig{"Instance": "d", "Go_Memory_Limit": "0"}, "", 64<<20)
	f(MapConfig{"Instance": "e", "Go_Memory_Limit": "128M"}, "100MiB", 64<<20)
	if _, err := ParseConfig(MapConfig{"Go_Memory_Limit": "1M"}, 0); err == nil || !strings.Contains(err.Error(), "Go_Memory_Limit") {
		t.Errorf("Go_Memory_Limit 1M: %v", err)
	}
}

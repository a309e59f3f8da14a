package plugin

import (
	"io"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// TestProcessGoRuntime: the Go runtime inside Fluent Bit gets the largest
// Go_Memory_Limit and Go_GC_Percent of the process's sections (32 MiB and
// 50 by default), and GOMEMLIMIT and GOGC in the environment win over
// every section.
func TestProcessGoRuntime(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	oldLimit, oldGC := debug.SetMemoryLimit(-1), debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetMemoryLimit(oldLimit); debug.SetGCPercent(oldGC) })
	p := NewProcess(io.Discard)
	defer p.Exit(5 * time.Second)
	f := func(props MapConfig, memEnv, gcEnv string, wantLimit int64, wantGC int) {
		t.Helper()
		t.Setenv("GOMEMLIMIT", memEnv)
		t.Setenv("GOGC", gcEnv)
		props["Brokers"] = noBroker
		if _, err := p.Init(props); err != nil {
			t.Fatal(err)
		}
		if got := debug.SetMemoryLimit(-1); got != wantLimit {
			t.Errorf("after %v (GOMEMLIMIT %q): Go memory limit %d, want %d", props, memEnv, got, wantLimit)
		}
		got := debug.SetGCPercent(-1) // reads it (and turns the collector off until the next line)
		debug.SetGCPercent(got)
		if got != wantGC {
			t.Errorf("after %v (GOGC %q): Go GC percent %d, want %d", props, gcEnv, got, wantGC)
		}
	}
	f(MapConfig{"Instance": "a"}, "", "", DefaultGoMemoryLimit, DefaultGoGCPercent)
	f(MapConfig{"Instance": "b", "Go_Memory_Limit": "64M", "Go_GC_Percent": "80"}, "", "", 64<<20, 80)
	f(MapConfig{"Instance": "c", "Go_Memory_Limit": "32M", "Go_GC_Percent": "20"}, "", "", 64<<20, 80)
	f(MapConfig{"Instance": "d", "Go_Memory_Limit": "0"}, "", "", 64<<20, 80)
	f(MapConfig{"Instance": "e", "Go_Memory_Limit": "128M", "Go_GC_Percent": "200"}, "100MiB", "150", 64<<20, 80)
	for k, v := range map[string]string{"Go_Memory_Limit": "1M", "Go_GC_Percent": "5"} {
		if _, err := ParseConfig(MapConfig{k: v}, 0); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s %s: %v", k, v, err)
		}
	}
}

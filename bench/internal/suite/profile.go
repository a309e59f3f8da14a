package suite

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// TopCosts lists the n functions with the most flat CPU in a profile, as
// "function flat% (cum cum%)", from `go tool pprof -top`.
func TopCosts(profile string, n int) ([]string, error) {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=40", profile).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof: %w", err)
	}
	return parseTop(string(out), n), nil
}

// parseTop reads the table of `pprof -top`: flat flat% sum% cum cum% name.
func parseTop(out string, n int) []string {
	var top []string
	inTable := false
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && f[0] == "flat" && f[1] == "flat%" {
			inTable = true
			continue
		}
		if !inTable || len(f) < 6 || len(top) >= n {
			continue
		}
		top = append(top, fmt.Sprintf("%s %s flat (%s cum)", strings.Join(f[5:], " "), f[1], f[4]))
	}
	return top
}

// profileHTTP fetches a CPU profile of d from a component's /debug/pprof.
func profileHTTP(addr string, d time.Duration, path string) error {
	cl := http.Client{Timeout: d + 30*time.Second}
	res, err := cl.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, max(1, int(d.Seconds()))))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("pprof: %s", res.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, res.Body)
	return err
}

// profileBench profiles fn run as a Go benchmark in this process.
func profileBench(fn func(*testing.B), path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	testing.Benchmark(fn)
	pprof.StopCPUProfile()
	return nil
}

// profileShipper runs the shipper with -debug.pprof on the corpus and
// profiles it while it ships (about expect long).
func (s *Suite) profileShipper(ctx context.Context, c *Corpus, expect time.Duration, path string) error {
	topic := s.topic("prof-shipper")
	if err := s.env.CreateTopic(ctx, topic, s.opt.Partitions); err != nil {
		return err
	}
	defer s.env.DeleteTopics(topic)
	p, addr, rm, err := s.startShipper(c.Path, topic, "-debug.pprof")
	if err != nil {
		return err
	}
	defer rm()
	defer p.Stop(30 * time.Second)
	if err := waitPort(addr, 20*time.Second); err != nil {
		return err
	}
	s.prog.Step("profiling the shipper", float64(c.Records), func() float64 {
		return Scrape(addr, "agentobs_shipper_records_produced_total", `outcome="ok"`)
	})
	return profileHTTP(addr, max(expect*8/10, time.Second), path)
}

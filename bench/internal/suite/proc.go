package suite

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agentobs/agentobs/test/harness"
)

// Usage is the CPU and memory a process (or the bench itself) spent.
type Usage struct {
	CPU     time.Duration // user + system
	PeakRSS int64         // bytes
}

// Proc is a component running as a child process, so its CPU and peak RSS
// are its own (ru_maxrss and ru_utime+ru_stime after it exited).
type Proc struct {
	cmd  *exec.Cmd
	done chan error
	out  *os.File
	hwm  func() int64
}

// watchHWM samples VmHWM (harness.VmHWM) every 100 ms until the process
// is gone; the returned func gives the largest value seen, in bytes.
func watchHWM(pid int) func() int64 {
	var mu sync.Mutex
	var peak int64
	sample := func() bool {
		v := harness.VmHWM(pid)
		mu.Lock()
		peak = max(peak, v)
		mu.Unlock()
		return v > 0
	}
	go func() {
		for sample() {
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return func() int64 { sample(); mu.Lock(); defer mu.Unlock(); return peak }
}

// Start runs bin with args and extra env; stderr goes to a log file in dir.
func Start(dir, bin string, args, env []string) (*Proc, error) {
	f, err := os.CreateTemp(dir, "proc-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &Proc{cmd: cmd, done: make(chan error, 1), out: f, hwm: watchHWM(cmd.Process.Pid)}
	go func() { p.done <- cmd.Wait() }()
	return p, nil
}

// Exited reports an early exit with the tail of the process's log.
func (p *Proc) Exited() error {
	select {
	case err := <-p.done:
		p.done <- err
		return fmt.Errorf("%s exited: %v: %s", p.cmd.Path, err, p.logTail())
	default:
		return nil
	}
}

func (p *Proc) logTail() string {
	b, _ := os.ReadFile(p.out.Name())
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return string(b)
}

// Stop sends SIGTERM, waits (SIGKILL after timeout) and returns the usage.
func (p *Proc) Stop(timeout time.Duration) Usage {
	p.hwm() // the last sample while it runs
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.out.Close()
	return p.usage()
}

func (p *Proc) usage() Usage {
	u := rusage(p.cmd.ProcessState)
	u.PeakRSS = p.hwm()
	return u
}

// Wait waits for a process that ends by itself.
func (p *Proc) Wait() (Usage, error) {
	err := <-p.done
	p.out.Close()
	if err != nil {
		err = fmt.Errorf("%v: %s", err, p.logTail())
	}
	return p.usage(), err
}

func rusage(ps *os.ProcessState) Usage {
	if ps == nil {
		return Usage{}
	}
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return Usage{CPU: ps.UserTime() + ps.SystemTime()}
	}
	_ = ru
	return Usage{CPU: ps.UserTime() + ps.SystemTime()} // PeakRSS: see watchHWM
}

// Self is the bench process's own usage so far (in-process figures take deltas).
func Self() Usage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) time.Duration {
		return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
	}
	return Usage{CPU: tv(ru.Utime) + tv(ru.Stime), PeakRSS: ru.Maxrss << 10}
}

// ProcCPU is the CPU time of another process (the stack's servers).
func ProcCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * time.Second / 100 // USER_HZ
}

// TreeCPU is the CPU time of pid and its descendants (the stack's start
// scripts fork the real JVM).
func TreeCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	t := ProcCPU(pid)
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, c := range strings.Fields(string(b)) {
			if cp, err := strconv.Atoi(c); err == nil {
				t += TreeCPU(cp)
			}
		}
	}
	return t
}

// brokerCPU starts counting the Kafka broker's CPU; the func it returns
// gives what the broker spent since.
func brokerCPU() func() time.Duration {
	kpid := StackPID("kafka")
	k0 := TreeCPU(kpid)
	return func() time.Duration { return TreeCPU(kpid) - k0 }
}

// StackPID is the pid of a stack server ("kafka", "elasticsearch"), or 0.
func StackPID(name string) int {
	b, err := os.ReadFile("/tmp/agentobs-stack/" + name + ".pid")
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// FreeAddr is a loopback address nobody listens on.
func FreeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Scrape sums the samples of metric on addr's /metrics whose label set
// contains every label (name="value"); -1 when the endpoint does not answer.
func Scrape(addr, metric string, labels ...string) float64 {
	return scrapeURL("http://"+addr+"/metrics", metric, labels...)
}

// scrapeURL sums metric on any Prometheus text endpoint (Fluent Bit's own
// is /api/v2/metrics/prometheus); -1 when it does not answer.
func scrapeURL(url, metric string, labels ...string) float64 {
	cl := http.Client{Timeout: 2 * time.Second}
	res, err := cl.Get(url)
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	return sumMetric(res.Body, metric, labels...)
}

func sumMetric(r io.Reader, metric string, labels ...string) float64 {
	total := 0.0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, metric) || len(l) == len(metric) || (l[len(metric)] != ' ' && l[len(metric)] != '{') {
			continue
		}
		ok := true
		for _, lb := range labels {
			ok = ok && strings.Contains(l, lb)
		}
		if f := strings.Fields(l); ok && len(f) >= 2 {
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += v
		}
	}
	return total
}

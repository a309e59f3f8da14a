package suite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/agentobs/agentobs/internal/loadgen"
)

// Corpus is a file of loadgen lines, the same for every pair of a figure.
type Corpus struct {
	Path    string
	Size    int // RecordSize asked for
	Records int
	Bytes   int64
	Report  loadgen.Report
}

// Warm reads the corpus file whole, so that a run that tails it reads it
// from the page cache, as a log file is read right after it was written.
// Without this a run after one of Fluent Bit's (see runFluentBit) or after
// memory pressure read it from the disk, at the disk's rate and with its
// kernel time counted as the reader's CPU.
func (c *Corpus) Warm() error {
	f, err := os.Open(c.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(io.Discard, f); err != nil {
		return fmt.Errorf("warm %s: %w", c.Path, err)
	}
	return nil
}

// corpus writes (once) n lines of about size bytes from seed.
func (s *Suite) corpus(size, n int) (*Corpus, error) {
	key := fmt.Sprintf("%d-%d", size, n)
	if c, ok := s.corpora[key]; ok {
		return c, nil
	}
	path := filepath.Join(s.env.Tmp, "corpus-"+key+".log")
	cfg := loadgen.DefaultConfig()
	cfg.Seed, cfg.Records, cfg.RecordSize = s.opt.Seed, int64(n), size
	cfg.RunID = s.env.Name("corpus", key)
	cfg.Start = time.Now().Add(-time.Hour).UTC()
	rep, err := loadgen.GenerateFile(cfg, path)
	if err != nil {
		return nil, err
	}
	c := &Corpus{Path: path, Size: size, Records: n, Bytes: rep.Bytes, Report: rep}
	s.corpora[key] = c
	return c, nil
}

// shipperRun is one file → Kafka run of the shipper binary.
type shipperRun struct {
	Rate  float64 // records/s acknowledged by Kafka
	MBps  float64 // input MB/s
	Usage Usage
	Kafka time.Duration // the broker's CPU meanwhile
}

// runShipper ships c into topic (created with the suite's partitions) and
// stops once Kafka acknowledged every line.
func (s *Suite) runShipper(ctx context.Context, c *Corpus, topic, step string) (shipperRun, error) {
	if err := s.env.CreateTopic(ctx, topic, s.opt.Partitions); err != nil {
		return shipperRun{}, err
	}
	ck, err := os.MkdirTemp(s.env.Tmp, "ck-")
	if err != nil {
		return shipperRun{}, err
	}
	defer os.RemoveAll(ck)
	if err := c.Warm(); err != nil {
		return shipperRun{}, err
	}
	addr := FreeAddr()
	broker := brokerCPU()
	p, err := Start(s.env.Tmp, s.env.Shipper, []string{
		"-files.include", c.Path, "-files.checkpoint-dir", ck, "-files.start-at", "beginning",
		"-kafka.brokers", strings.Join(s.env.Brokers, ","), "-kafka.topic", topic, "-kafka.dlq-topic", topic + "-dlq",
		"-http.addr", addr, "-log.level", "warn", "-host", "bench",
	}, nil)
	if err != nil {
		return shipperRun{}, err
	}
	count := func() float64 { return Scrape(addr, "agentobs_shipper_records_produced_total", `outcome="ok"`) }
	s.prog.Step(step, float64(c.Records), count)
	read := func() float64 { return Scrape(addr, "agentobs_shipper_lines_read_total") }
	rate, err := measureRate(ctx, float64(c.Records), count, read, p.Exited, 10*time.Minute)
	use := p.Stop(30 * time.Second)
	if err != nil {
		return shipperRun{}, fmt.Errorf("shipper: %w", err)
	}
	r := shipperRun{Rate: rate, MBps: rate * float64(c.Bytes) / float64(c.Records) / 1e6, Usage: use, Kafka: broker()}
	s.prog.Logf("shipper %s: %.0f records/s, %.1f MB/s, CPU %.1fs, peak RSS %d MiB", filepath.Base(c.Path), r.Rate, r.MBps, use.CPU.Seconds(), use.PeakRSS>>20)
	return r, nil
}

var perfLine = regexp.MustCompile(`(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)`)

// runPerfTest runs kafka-producer-perf-test (ProducerPerformance from the
// Kafka jars) with the corpus lines as payloads, acks=all and the shipper's
// batching (1 MiB / partition, linger 5 ms) and compression (lz4).
func (s *Suite) runPerfTest(ctx context.Context, c *Corpus, n int, topic, step string) (shipperRun, error) {
	if err := s.env.CreateTopic(ctx, topic, s.opt.Partitions); err != nil {
		return shipperRun{}, err
	}
	payload, err := s.payloadFile(c)
	if err != nil {
		return shipperRun{}, err
	}
	cmd := exec.CommandContext(ctx, "java", "-Xmx1g", "-cp", filepath.Join(s.env.KafkaHome, "libs")+"/*",
		"org.apache.kafka.tools.ProducerPerformance", "--topic", topic, "--num-records", strconv.Itoa(n),
		"--payload-file", payload, "--throughput", "-1", "--producer-props",
		"bootstrap.servers="+strings.Join(s.env.Brokers, ","), "acks=all", "linger.ms=5", "batch.size=1048576",
		"compression.type=lz4", "max.request.size=10485760")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	s.prog.Step(step, float64(n), nil)
	broker := brokerCPU()
	if err := cmd.Start(); err != nil {
		return shipperRun{}, err
	}
	hwm := watchHWM(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		return shipperRun{}, fmt.Errorf("perf-test: %w: %s", err, tailString(out.String(), 800))
	}
	m := perfLine.FindAllStringSubmatch(out.String(), -1)
	if len(m) == 0 {
		return shipperRun{}, fmt.Errorf("perf-test: no summary in %q", tailString(out.String(), 800))
	}
	last := m[len(m)-1]
	rate, _ := strconv.ParseFloat(last[2], 64)
	r := shipperRun{Rate: rate, MBps: rate * float64(c.Bytes) / float64(c.Records) / 1e6, Usage: rusage(cmd.ProcessState), Kafka: broker()}
	r.Usage.PeakRSS = hwm()
	s.prog.Logf("perf-test: %.0f records/s, %.1f MB/s (JVM CPU %.1fs incl. start-up)", r.Rate, r.MBps, r.Usage.CPU.Seconds())
	return r, nil
}

// payloadFile is the first lines of the corpus without their newlines'
// final one, the payloads the perf-test picks from at random.
func (s *Suite) payloadFile(c *Corpus) (string, error) {
	path := c.Path + ".payload"
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	f, err := os.Open(c.Path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var b bytes.Buffer
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 0; i < 20000 && sc.Scan(); i++ {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.Write(sc.Bytes())
	}
	return path, os.WriteFile(path, b.Bytes(), 0o644)
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

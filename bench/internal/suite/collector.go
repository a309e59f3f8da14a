package suite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

const chunkEvents = 1000

// chunks writes up to max Fluent Bit chunks of chunkEvents events each from
// the corpus lines, as the tail input hands them to an output plugin: per
// event [[EventTime, {}], {"log": line, "stream": "stdout"}], EventTime
// being msgpack fixext8 type 0 with big-endian uint32 seconds and
// nanoseconds (Fluent Bit ≥ 2.1 event format).
func (s *Suite) chunks(c *Corpus, maxChunks int) ([]string, error) {
	f, err := os.Open(c.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	base := time.Now().Add(-time.Hour)
	var paths []string
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	for i := 0; len(paths) < maxChunks; i++ {
		more := sc.Scan()
		if more {
			ts := base.Add(time.Duration(i) * time.Microsecond)
			buf.Write([]byte{0x92, 0x92, 0xd7, 0x00})
			buf.Write(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(ts.Unix())), uint32(ts.Nanosecond())))
			buf.WriteByte(0x80) // metadata {}
			if err := enc.Encode(map[string]any{"log": sc.Text(), "stream": "stdout"}); err != nil {
				return nil, err
			}
		}
		if (i+1)%chunkEvents == 0 || !more && buf.Len() > 0 {
			p := filepath.Join(s.env.Tmp, fmt.Sprintf("chunk-%d-%d.msgpack", c.Size, len(paths)))
			if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
				return nil, err
			}
			paths = append(paths, p)
			buf.Reset()
		}
		if !more {
			break
		}
	}
	return paths, nil
}

// runCollector drives the plugin .so through the host program: workers
// threads flush chunks (chunkEvents events each) to topic until n records
// were acknowledged by Kafka (every flush returns FLB_OK only then).
func (s *Suite) runCollector(ctx context.Context, c *Corpus, n int, topic, step string) (shipperRun, error) {
	if err := s.env.CreateTopic(ctx, topic, s.opt.Partitions); err != nil {
		return shipperRun{}, err
	}
	chunks, err := s.chunks(c, 20)
	if err != nil {
		return shipperRun{}, err
	}
	const workers = 2
	repeat := max(1, n/(chunkEvents*workers))
	args := []string{s.env.Plugin, "-i", "agentobs", "-p", "Brokers=" + strings.Join(s.env.Brokers, ","), "-p", "Topic=" + topic,
		"-p", "DLQ_Topic=" + s.dlq, "-p", "Compression=lz4", "-p", "Required_Acks=all", "-p", "Source=bench",
		"-p", "Plugin_Log_Level=warn", "-tag", "kube.agents", "-workers", strconv.Itoa(workers), "-repeat", strconv.Itoa(repeat), "-interval-ms", "0"}
	for _, ch := range chunks {
		args = append(args, "-chunk", ch)
	}
	cmd := exec.CommandContext(ctx, s.env.Host, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		return shipperRun{}, err
	}
	total := float64(repeat * workers * chunkEvents)
	var ok, okAtFirst float64
	var first, last time.Time
	s.prog.Step(step, total, func() float64 { return ok })
	broker := brokerCPU()
	if err := cmd.Start(); err != nil {
		return shipperRun{}, err
	}
	hwm := watchHWM(cmd.Process.Pid)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "flush ") && strings.Contains(l, " rc=1 ") {
			ok += chunkEvents
			last = time.Now()
			if first.IsZero() {
				first, okAtFirst = last, ok
			}
		}
	}
	peak := hwm()
	if err := cmd.Wait(); err != nil {
		return shipperRun{}, fmt.Errorf("flbhost: %w: %s", err, tailString(errb.String(), 800))
	}
	if ok < total || !last.After(first) {
		return shipperRun{}, fmt.Errorf("flbhost: %.0f of %.0f records acknowledged: %s", ok, total, tailString(errb.String(), 800))
	}
	rate := (ok - okAtFirst) / last.Sub(first).Seconds()
	bytesPer := float64(c.Bytes) / float64(c.Records)
	r := shipperRun{Rate: rate, MBps: rate * bytesPer / 1e6, Usage: rusage(cmd.ProcessState), Kafka: broker()}
	r.Usage.PeakRSS = peak
	s.prog.Logf("collector (flbhost, %d workers): %.0f records/s, %.1f MB/s, CPU %.1fs, peak RSS %d MiB", workers, rate, r.MBps, r.Usage.CPU.Seconds(), r.Usage.PeakRSS>>20)
	return r, nil
}

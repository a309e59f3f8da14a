package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/agentobs/agentobs/internal/loadgen"
	"github.com/agentobs/agentobs/test/chaos"
	"github.com/segmentio/kafka-go"
)

// logFile is the file the scheduled runs' load generator writes and the
// shipper tails (dir/logs/app.log). The schedule rotates it by rename or by
// copytruncate at the moment it chooses, between two whole writes of the
// load generator (which always end at a line boundary). Rotated copies are
// named app.log.N: outside the shipper's *.log glob.
type logFile struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	n      int
	copies []string
}

func openLogFile(path string) (*logFile, error) {
	w := &logFile{path: path}
	return w, w.open()
}

func (w *logFile) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", w.path, err)
	}
	w.f = f
	return nil
}

func (w *logFile) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Write(p)
}

func (w *logFile) next() string {
	w.n++
	to := fmt.Sprintf("%s.%d", w.path, w.n)
	w.copies = append(w.copies, to)
	return to
}

// Rotate renames the file to app.log.N and continues in a new app.log
// (after the load ended: only the rename).
func (w *logFile) Rotate() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			return err
		}
	}
	if err := os.Rename(w.path, w.next()); err != nil {
		return fmt.Errorf("rotate %s: %w", w.path, err)
	}
	if w.f == nil {
		return nil
	}
	return w.open()
}

// CopyTruncate copies the file to app.log.N and truncates it to 0 in
// place, as logrotate's copytruncate does (the writer keeps its O_APPEND
// descriptor and continues at the new end). Nothing is written between the
// copy and the truncation, so the only records at risk are those a reader
// had not read before the truncation.
func (w *logFile) CopyTruncate() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	src, err := os.Open(w.path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(w.next())
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return fmt.Errorf("copytruncate %s: %w", w.path, err)
	}
	if err := dst.Close(); err != nil {
		return err
	}
	return os.Truncate(w.path, 0)
}

func (w *logFile) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.f.Close()
	w.f = nil
	return err
}

// scheduledLoad runs the load generator into the rig's logFile.
func (r *chaosRig) scheduledLoad(cfg loadgen.Config) <-chan loadgen.Report {
	if err := os.MkdirAll(filepath.Join(r.dir, "logs"), 0o755); err != nil {
		r.t.Fatal(err)
	}
	w, err := openLogFile(filepath.Join(r.dir, "logs", "app.log"))
	if err != nil {
		r.t.Fatal(err)
	}
	r.files = w
	out := make(chan loadgen.Report, 1)
	go func() {
		rep, err := loadgen.Run(context.Background(), cfg, w)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			r.t.Errorf("loadgen: %v", err)
		}
		out <- rep
	}()
	return out
}

// stepRun is what happened when a step ran: when it began and ended
// (relative to the run's start) and its error.
type stepRun struct {
	step       chaos.Step
	began, end time.Duration
	err        error
}

// execute runs the schedule's steps at their times from start, in order,
// in the background; the channel closes after the last step ended.
func (r *chaosRig) execute(s chaos.Schedule, start time.Time) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, st := range s.Steps {
			select {
			case <-r.stop:
				return
			case <-time.After(time.Until(start.Add(st.At))):
			}
			sr := stepRun{step: st, began: time.Since(start)}
			sr.err = r.do(st)
			sr.end = time.Since(start)
			r.mu.Lock()
			r.steps = append(r.steps, sr)
			r.mu.Unlock()
			r.ledger.Note("%s: began +%s, ended +%s", st, sr.began.Round(100*time.Millisecond), sr.end.Round(100*time.Millisecond))
			if sr.err != nil {
				r.ledger.Fail("step %s: %v", st, sr.err)
			}
		}
	}()
	return done
}

// do performs one step and returns when its fault is over (the killed
// process restarted and healthy, the frozen server thawed).
func (r *chaosRig) do(st chaos.Step) error {
	sleep := func() { time.Sleep(st.For) }
	// The file operation comes at the end of the outage, after the load
	// generator wrote into the file the shipper is not reading: those
	// lines are what a restart must find again.
	restartShipperAfter := func(file func() error) error {
		r.shipper.Kill()
		sleep()
		var err error
		if file != nil {
			err = file()
		}
		return errors.Join(err, r.startErr(r.shipper))
	}
	switch st.Op {
	case chaos.KillShipper:
		return restartShipperAfter(nil)
	case chaos.RotateWhileDown:
		return restartShipperAfter(r.files.Rotate)
	case chaos.CopyTruncateWhileDown:
		err := restartShipperAfter(r.files.CopyTruncate)
		r.copyTruncated = true
		return err
	case chaos.Rotate:
		return r.files.Rotate()
	case chaos.KillIndexer:
		ix := r.indexers[0]
		ix.Kill()
		sleep()
		return r.startErr(ix)
	case chaos.FreezeBroker:
		if err := r.broker.Freeze(); err != nil {
			return err
		}
		sleep()
		return r.broker.Thaw()
	case chaos.RestartBroker:
		r.broker.Kill()
		sleep()
		return r.broker.Start()
	case chaos.FreezeES:
		if r.privateES != nil {
			if err := r.privateES.Freeze(); err != nil {
				return err
			}
			sleep()
			return r.privateES.Thaw()
		}
		r.esProxy.SetStall(true)
		sleep()
		r.esProxy.SetStall(false)
		r.esProxy.Reset()
		return nil
	case chaos.RestartES:
		if r.privateES != nil {
			r.privateES.Kill()
			sleep()
			return r.privateES.Start()
		}
		r.esProxy.Cut()
		sleep()
		return r.esProxy.Restore()
	case chaos.GrowPartitions:
		return r.growPartitions(3)
	case chaos.SlowClients:
		r.slow.run(r, st.For)
		return nil
	}
	return fmt.Errorf("operation %s not implemented by the rig", st.Op)
}

// growPartitions adds n partitions to the records topic.
func (r *chaosRig) growPartitions(n int) error {
	cl, err := r.kafka.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{r.topic}})
	if err != nil {
		return fmt.Errorf("metadata of %s: %w", r.topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return fmt.Errorf("metadata of %s: %v", r.topic, md.Topics)
	}
	have := len(md.Topics[0].Partitions)
	res, err := cl.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{
		Topics: []kafka.TopicPartitionsConfig{{Name: r.topic, Count: int32(have + n)}}})
	if err != nil {
		return fmt.Errorf("grow %s to %d partitions: %w", r.topic, have+n, err)
	}
	if e := res.Errors[r.topic]; e != nil {
		return fmt.Errorf("grow %s to %d partitions: %w", r.topic, have+n, e)
	}
	r.ledger.Note("%s grown from %d to %d partitions", r.topic, have, have+n)
	return nil
}

// undrainedVerdict: copytruncate while the shipper is down loses the lines
// it had not read (shipper/README.md: inherent to copytruncate); the loss
// is not allowed to be silent — the shipper must count it.
func (r *chaosRig) undrainedVerdict(l *chaos.Ledger) {
	// The sampler sums the counters over the shipper's incarnations
	// (a later kill resets them); one last sample first.
	time.Sleep(time.Second)
	files := r.counter(r.shipper, shipperCounters[0])
	bytes := r.counter(r.shipper, shipperCounters[1])
	l.Note("copytruncate while the shipper was down: %d records lost by design, reported as files_undrained_total{truncated}=%.0f, undrained_bytes_total{truncated}=%.0f",
		l.Lost(), files, bytes)
	// Lossy by design (the lines live only in the copy, outside the
	// glob), so the run is held to the loss being reported, not to 0: the
	// shipper must count the file and at least the bytes of the records
	// lost (every load generator line is over minLineBytes long).
	const minLineBytes = 100
	switch {
	case l.Lost() > 0 && files == 0:
		l.Fail("%d records lost to copytruncate and the shipper reported no undrained file", l.Lost())
	case bytes < float64(l.Lost()*minLineBytes):
		l.Fail("%d records lost to copytruncate, more than the %.0f bytes the shipper reported hold", l.Lost(), bytes)
	}
}

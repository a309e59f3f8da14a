package suite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/agentobs/agentobs/bench/internal/report"
)

// fbOutput is the output section a Fluent Bit run ends in.
type fbOutput struct {
	Name string // figure label
	// Section is the [OUTPUT] body; %[1]s is the brokers, %[2]s the topic,
	// %[3]s a dead-letter topic.
	Section string
	// Null: the output writes nothing to Kafka; a run ends when Fluent
	// Bit's output has processed every record.
	Null bool
	// Unparsed: tail without the json parser, so each event is the line
	// as {"log": "<line>"}: the plugin parses it itself, as the shipped
	// configurations leave it to (collector/fluent-bit/). Only the plugin
	// can take lines so: out_kafka would write the line as a string.
	Unparsed bool
}

// The two outputs R3 compares, configured alike: acks=all, lz4, the
// default batching of each (librdkafka linger 5 ms, one request per
// broker; the plugin sends each flush at once, one request per partition
// leader of at most Batch_Bytes 1 MiB per partition).
var (
	fbNative = fbOutput{Name: "Fluent Bit tail + JSON parser + native out_kafka", Section: `
    Name                              kafka
    Match                             *
    Brokers                           %[1]s
    Topics                            %[2]s
    Format                            json
    rdkafka.request.required.acks     -1
    rdkafka.compression.codec         lz4`}
	// fbKeyed is the same out_kafka keying each record by its trace id
	// (Message_Key_Field), as the plugin does by default so that one
	// trace lands in one partition: not the goal's reference (the issue
	// sets out_kafka's defaults), the context the note gives beside it.
	// A key spreads each of librdkafka's batches over every partition
	// instead of one at a time, which costs the broker and librdkafka too.
	fbKeyed = fbOutput{Name: "Fluent Bit tail + JSON parser + native out_kafka keyed by trace_id", Section: fbNative.Section + `
    Message_Key_Field                 trace_id`}
	fbPlugin = pluginOutput(2)
	// fbNull is the input side alone: the same tail + JSON parser into
	// out_null. Its CPU, taken from R3's, leaves what each output costs.
	fbNull = fbOutput{Name: "Fluent Bit tail + JSON parser + out_null (the input side alone)", Null: true, Section: `
    Name                              null
    Match                             *`}
)

// pluginOutput is the plugin's section, with the given Workers.
func pluginOutput(workers int) fbOutput {
	return fbOutput{Name: fmt.Sprintf("Fluent Bit tail + JSON parser + out_agentobs, Workers %d", workers), Section: fmt.Sprintf(`
    Name           agentobs
    Match          *
    Workers        %d
    Brokers        %%[1]s
    Topic          %%[2]s
    DLQ_Topic      %%[3]s
    Required_Acks  all
    Compression    lz4
    Source         bench
    Plugin_Log_Level warn`, workers)}
}

// section is the [OUTPUT] body for these brokers, topic and dead-letter
// topic (out_null's takes none).
func (o fbOutput) section(brokers, topic, dlq string) string {
	if o.Null {
		return o.Section
	}
	return fmt.Sprintf(o.Section, brokers, topic, dlq)
}

// fbRun is one Fluent Bit run over a corpus.
type fbRun struct {
	Rate         float64       // records/s from the first line read to the last record acknowledged by Kafka
	CPUPerRecord time.Duration // the Fluent Bit process's CPU (user+system, /proc) until then, per record
	PeakRSS      int64         // VmHWM of the Fluent Bit process
	Kafka        time.Duration // the broker's CPU meanwhile
}

// runFluentBit runs real Fluent Bit with `tail` (from the head, JSON
// parser) over c into out, and measures it until Kafka holds every line:
// the topic's end offsets, so an asynchronous output (out_kafka answers
// Fluent Bit before librdkafka has the acknowledgement) is timed to the
// same point as the plugin.
func (s *Suite) runFluentBit(ctx context.Context, c *Corpus, out fbOutput, topic, step string) (fbRun, error) {
	if s.env.FluentBit == "" {
		return fbRun{}, fmt.Errorf("no Fluent Bit (scripts/fluent-bit.sh found or built none)")
	}
	if err := s.env.CreateTopic(ctx, topic, s.opt.Partitions); err != nil {
		return fbRun{}, err
	}
	// The plugin checks at init that its dead-letter topic exists.
	if err := s.env.CreateTopic(ctx, s.dlq, 1); err != nil {
		return fbRun{}, err
	}
	dir, err := os.MkdirTemp(s.env.Tmp, "fb-")
	if err != nil {
		return fbRun{}, err
	}
	defer os.RemoveAll(dir)
	addr := FreeAddr()
	host, port, _ := strings.Cut(addr, ":")
	parser := "\n    Parser          json"
	if out.Unparsed {
		parser = ""
	}
	// tail's File_Cache_Advise (on by default) drops the whole file from
	// the page cache at every read, so the rest of a corpus written
	// beforehand came from the disk: about 87 MB/s on the bench's VM, one
	// cap for every output whatever its speed, and its kernel time (about
	// 1.9 µs per record) in the input side's CPU. A live log file is read
	// just after it was written, from the page cache: Off and Corpus.Warm
	// measure that.
	conf := fmt.Sprintf(`[SERVICE]
    Flush         0.25
    Log_Level     warn
    Parsers_File  %[1]s/parsers.conf
    HTTP_Server   On
    HTTP_Listen   %[2]s
    HTTP_Port     %[3]s

[INPUT]
    Name            tail
    Path            %[4]s
    Read_from_Head  On%[5]s
    Mem_Buf_Limit   64MB
    File_Cache_Advise Off

[OUTPUT]`, dir, host, port, c.Path, parser) + out.section(strings.Join(s.env.Brokers, ","), topic, s.dlq) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "parsers.conf"), []byte("[PARSER]\n    Name json\n    Format json\n"), 0o644); err != nil {
		return fbRun{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "fluent-bit.conf"), []byte(conf), 0o644); err != nil {
		return fbRun{}, err
	}
	args := []string{"-c", filepath.Join(dir, "fluent-bit.conf")}
	if strings.Contains(out.Section, "agentobs") {
		args = append([]string{"-e", s.env.Plugin}, args...)
	}
	if err := c.Warm(); err != nil {
		return fbRun{}, err
	}
	broker := brokerCPU()
	p, err := Start(dir, s.env.FluentBit, args, nil)
	if err != nil {
		return fbRun{}, err
	}
	total := float64(c.Records)
	end := s.env.topicEnd(topic, s.opt.Partitions)
	if out.Null {
		end = func() float64 {
			return scrapeURL("http://"+addr+"/api/v2/metrics/prometheus", "fluentbit_output_proc_records_total")
		}
	}
	s.prog.Step(step, total, end)
	read := func() float64 {
		return scrapeURL("http://"+addr+"/api/v2/metrics/prometheus", "fluentbit_input_records_total")
	}
	rate, err := measureRate(ctx, total, end, read, p.Exited, 10*time.Minute)
	cpu := ProcCPU(p.cmd.Process.Pid)
	use := p.Stop(30 * time.Second)
	if err != nil {
		return fbRun{}, fmt.Errorf("fluent-bit (%s): %w", out.Name, err)
	}
	r := fbRun{Rate: rate, CPUPerRecord: cpu / time.Duration(c.Records), PeakRSS: use.PeakRSS, Kafka: broker()}
	s.prog.Logf("%s: %.0f records/s, %.1f µs CPU/record, peak RSS %d MiB, broker CPU %.1fs", out.Name, r.Rate,
		float64(r.CPUPerRecord.Nanoseconds())/1e3, r.PeakRSS>>20, r.Kafka.Seconds())
	return r, nil
}

// topicEnd returns a func summing the end offsets of topic's partitions
// (records Kafka acknowledged), polled at most every 100 ms.
func (e *Env) topicEnd(topic string, partitions int) func() float64 {
	cl := &kafka.Client{Addr: kafka.TCP(e.Brokers...), Timeout: 5 * time.Second}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := range partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	var last float64
	var at time.Time
	return func() float64 {
		if time.Since(at) < 100*time.Millisecond {
			return last
		}
		at = time.Now()
		res, err := cl.ListOffsets(context.Background(), req)
		if err != nil {
			return last
		}
		sum := 0.0
		for _, po := range res.Topics[topic] {
			sum += float64(po.LastOffset)
		}
		last = sum
		return last
	}
}

// nativeRef runs repetition i of the reference of R2 and R3: Fluent Bit
// with native out_kafka over the main corpus. Each figure runs its own,
// one repetition after each of its own runs, so the two sides of a ratio
// meet the same machine: on these shared cores a broker or page cache
// that drifts within a minute moves a rate by a fifth, and a reference
// run all at once (or borrowed from the other figure) moved the ratio
// with it.
// out is fbNative (the goal's reference) or fbKeyed (the context beside it).
func (s *Suite) nativeRef(ctx context.Context, fig string, out fbOutput, i int) (fbRun, error) {
	topic := s.topic("fbk")
	r, err := s.runFluentBit(ctx, s.main, out, topic, fmt.Sprintf("%s reference: %s, rep %d/%d", fig, out.Name, i+1, s.opt.Reps))
	s.env.DeleteTopics(topic)
	return r, err
}

// warmFluentBit runs Fluent Bit with out over the warm-up corpus once for
// figure fig; a warm-up warms, its rate is not a figure, so a failure is
// only logged.
func (s *Suite) warmFluentBit(ctx context.Context, fig string, out fbOutput) {
	wt := s.topic("fb-warm")
	_, err := s.runFluentBit(ctx, s.warm, out, wt, fig+" warm-up: "+out.Name)
	s.env.DeleteTopics(wt)
	if err != nil {
		s.prog.Logf("%s warm-up: %v", fig, err)
	}
}

// addKeyed puts the keyed out_kafka's runs in a figure's Extra x, beside
// ours (rate in records/s, CPU in µs per record; R2 and R3 alike), and
// returns the note's sentence on them.
func addKeyed(x map[string]float64, keyed []fbRun, rate, cpu float64) string {
	kr, kc, km := fbStats(keyed)
	x["keyed_records_per_s"], x["keyed_cpu_us_per_record"], x["keyed_peak_rss_mib"] = kr.Median, kc.Median, km.Median
	x["keyed_rate_ratio"], x["keyed_cpu_ratio"] = rate/kr.Median, cpu/kc.Median
	return fmt.Sprintf("out_kafka keyed by trace_id, as we key (context, not the goal): %.0f records/s, %.1f µs/record, %.0f MiB, "+
		"so ours is %.2f× its rate at %.2f× its CPU", kr.Median, kc.Median, km.Median, x["keyed_rate_ratio"], x["keyed_cpu_ratio"])
}

func fbStats(runs []fbRun) (rate, cpuUS, rssMiB report.Stat) {
	var a, b, c []float64
	for _, r := range runs {
		a, b, c = append(a, r.Rate), append(b, float64(r.CPUPerRecord.Nanoseconds())/1e3), append(c, float64(r.PeakRSS)/(1<<20))
	}
	return report.Of(a...), report.Of(b...), report.Of(c...)
}

// fbComponent records a Fluent Bit run's cost per component.
func (s *Suite) fbComponent(name, fig string, r fbRun, records int) {
	s.component(name, fig, Usage{CPU: r.CPUPerRecord * time.Duration(records), PeakRSS: r.PeakRSS}, records, false)
}

// r3: the plugin inside real Fluent Bit vs the same Fluent Bit's native
// out_kafka: same binary, same tail + JSON parser over the same file, same
// broker, acks=all, lz4. Runs alternate; records/s is the figure, CPU per
// record and peak RSS of the Fluent Bit process ride along with goals of
// their own (≤ 1.0× and ≤ 1.5×).
func (s *Suite) r3(ctx context.Context) error {
	n := s.main.Records
	s.warmFluentBit(ctx, "R3", fbPlugin)
	s.warmFluentBit(ctx, "R3", fbNative)
	var plugin, native, keyed, null []fbRun
	for i := range s.opt.Reps {
		topic := s.topic("fbp")
		r, err := s.runFluentBit(ctx, s.main, fbPlugin, topic, fmt.Sprintf("R3 %s, rep %d/%d", fbPlugin.Name, i+1, s.opt.Reps))
		s.env.DeleteTopics(topic)
		if err != nil {
			return err
		}
		plugin = append(plugin, r)
		if r, err = s.nativeRef(ctx, "R3", fbNative, i); err != nil {
			return err
		}
		native = append(native, r)
		if r, err = s.nativeRef(ctx, "R3", fbKeyed, i); err != nil {
			return err
		}
		keyed = append(keyed, r)
		topic = s.topic("fbn")
		r, err = s.runFluentBit(ctx, s.main, fbNull, topic, fmt.Sprintf("R3 %s, rep %d/%d", fbNull.Name, i+1, s.opt.Reps))
		s.env.DeleteTopics(topic)
		if err != nil {
			return err
		}
		null = append(null, r)
	}
	s.fbComponent("Fluent Bit + out_agentobs (Workers 2)", "R3", plugin[0], n)
	s.server("kafka broker (while the plugin produced)", "R3", plugin[0].Kafka, n)
	s.fbComponent("Fluent Bit + native out_kafka", "R3", native[0], n)
	s.server("kafka broker (while out_kafka produced)", "R3", native[0].Kafka, n)
	s.fbComponent("Fluent Bit + native out_kafka keyed by trace_id", "R3", keyed[0], n)
	s.server("kafka broker (while keyed out_kafka produced)", "R3", keyed[0].Kafka, n)
	s.fbComponent("Fluent Bit + out_null (the input side alone)", "R3", null[0], n)
	pr, pc, pm := fbStats(plugin)
	nr, nc, nm := fbStats(native)
	_, in, im := fbStats(null)
	f := report.Figure{ID: "R3", Name: "collector plugin inside Fluent Bit, tail → Kafka ack", Unit: "records/s", Value: pr,
		RefName: fbNative.Name, Ref: nr, Goal: 1.0, Extra: map[string]float64{
			"plugin_cpu_us_per_record": pc.Median, "native_cpu_us_per_record": nc.Median, "cpu_ratio": pc.Median / nc.Median,
			"plugin_peak_rss_mib": pm.Median, "native_peak_rss_mib": nm.Median, "rss_ratio": pm.Median / nm.Median,
			"input_side_cpu_us_per_record": in.Median, "input_side_peak_rss_mib": im.Median,
			"plugin_output_cpu_us_per_record": pc.Median - in.Median, "native_output_cpu_us_per_record": nc.Median - in.Median}}
	keyedNote := addKeyed(f.Extra, keyed, pr.Median, pc.Median)
	f.Finish()
	f.Note = fmt.Sprintf("CPU %.1f vs %.1f µs/record = %.2f×, goal ≤ 1.0; peak RSS %.0f vs %.0f MiB = %.2f×, goal ≤ 1.5; "+
		"the input side alone (out_null) %.1f µs/record and %.0f MiB, so the outputs themselves cost %.1f vs %.1f µs/record; %s",
		pc.Median, nc.Median, f.Extra["cpu_ratio"], pm.Median, nm.Median, f.Extra["rss_ratio"],
		in.Median, im.Median, pc.Median-in.Median, nc.Median-in.Median, keyedNote)
	// Other Workers values, once each: what the setting costs.
	for _, w := range s.opt.R3Workers {
		topic := s.topic("fbw")
		r, err := s.runFluentBit(ctx, s.main, pluginOutput(w), topic, fmt.Sprintf("R3 out_agentobs, Workers %d", w))
		s.env.DeleteTopics(topic)
		if err != nil {
			return err
		}
		f.Extra[fmt.Sprintf("workers_%d_records_per_s", w)] = r.Rate
		f.Extra[fmt.Sprintf("workers_%d_cpu_us_per_record", w)] = float64(r.CPUPerRecord.Nanoseconds()) / 1e3
		f.Note += fmt.Sprintf("; Workers %d: %.0f records/s, %.1f µs/record, %d MiB", w, r.Rate,
			float64(r.CPUPerRecord.Nanoseconds())/1e3, r.PeakRSS>>20)
	}
	// The plugin as the shipped configurations run it, once: Fluent Bit
	// no longer parses the JSON line, the plugin does (the same records
	// arrive in Kafka), against the same native reference, which needs
	// the parser to write records rather than strings.
	raw := pluginOutput(2)
	raw.Name, raw.Unparsed = "Fluent Bit tail (no parser) + out_agentobs, Workers 2", true
	topic := s.topic("fbr")
	r, err := s.runFluentBit(ctx, s.main, raw, topic, "R3 "+raw.Name)
	s.env.DeleteTopics(topic)
	if err != nil {
		return err
	}
	rc, rm := float64(r.CPUPerRecord.Nanoseconds())/1e3, float64(r.PeakRSS)/(1<<20)
	f.Extra["unparsed_records_per_s"], f.Extra["unparsed_cpu_us_per_record"], f.Extra["unparsed_peak_rss_mib"] = r.Rate, rc, rm
	f.Note += fmt.Sprintf("; without Fluent Bit's JSON parser (the plugin parses each line, as the shipped configurations do): "+
		"%.0f records/s = %.2f×, %.1f µs/record = %.2f×, %.0f MiB = %.2f×", r.Rate, r.Rate/nr.Median, rc, rc/nc.Median, rm, rm/nm.Median)
	s.res.Figures = append(s.res.Figures, f)
	return nil
}

// r2: the shipper vs Fluent Bit (tail + JSON parser + native out_kafka) on
// the same file, with kafka-producer-perf-test as the broker's ceiling line.
// Each repetition runs the shipper, then the reference, then the ceiling.
func (s *Suite) r2(ctx context.Context) error {
	n := s.opt.Records
	s.warmTopic = s.topic("warm")
	if _, err := s.runShipper(ctx, s.warm, s.warmTopic, "R2 warm-up: shipper"); err != nil {
		return err
	}
	if _, err := s.runPerfTest(ctx, s.warm, s.warm.Records, s.topic("warm-perf"), "R2 warm-up: perf-test"); err != nil {
		return err
	}
	s.warmFluentBit(ctx, "R2", fbNative)
	var native, keyed []fbRun
	var sh, shMB, shCPU, shRSS, pf, pfMB []float64
	for i := range s.opt.Reps {
		topic := s.topic("ship")
		r, err := s.runShipper(ctx, s.main, topic, fmt.Sprintf("R2 shipper file → Kafka, rep %d/%d", i+1, s.opt.Reps))
		if err != nil {
			return err
		}
		sh, shMB = append(sh, r.Rate), append(shMB, r.MBps)
		shCPU, shRSS = append(shCPU, r.Usage.CPU.Seconds()/float64(n)*1e6), append(shRSS, float64(r.Usage.PeakRSS)/(1<<20))
		if i == 0 {
			s.srcTopic = topic
			s.component("shipper", "R2", r.Usage, n, false)
			s.server("kafka broker (while the shipper produced)", "R2", r.Kafka, n)
		} else {
			s.env.DeleteTopics(topic)
		}
		nat, err := s.nativeRef(ctx, "R2", fbNative, i)
		if err != nil {
			return err
		}
		native = append(native, nat)
		if nat, err = s.nativeRef(ctx, "R2", fbKeyed, i); err != nil {
			return err
		}
		keyed = append(keyed, nat)
		ptopic := s.topic("perf")
		p, err := s.runPerfTest(ctx, s.main, n, ptopic, fmt.Sprintf("R2 ceiling kafka-producer-perf-test, rep %d/%d", i+1, s.opt.Reps))
		s.env.DeleteTopics(ptopic)
		if err != nil {
			return err
		}
		pf, pfMB = append(pf, p.Rate), append(pfMB, p.MBps)
		if i == 0 {
			s.component("kafka-producer-perf-test (JVM, start-up included)", "R2", p.Usage, n, false)
			s.server("kafka broker (while the perf-test produced)", "R2", p.Kafka, n)
		}
	}
	s.perf, s.perfMBps = report.Of(pf...), report.Of(pfMB...).Median
	nr, nc, nm := fbStats(native)
	rate, cpu, rss := report.Of(sh...), report.Of(shCPU...).Median, report.Of(shRSS...).Median
	f := report.Figure{ID: "R2", Name: "shipper file → Kafka ack", Unit: "records/s", Value: rate,
		RefName: fbNative.Name, Ref: nr, Goal: 1.0,
		Extra: map[string]float64{"shipper_mb_per_s": report.Of(shMB...).Median, "perf_test_mb_per_s": s.perfMBps,
			"perf_test_records_per_s": s.perf.Median, "shipper_cpu_us_per_record": cpu, "native_cpu_us_per_record": nc.Median,
			"cpu_ratio": cpu / nc.Median, "shipper_peak_rss_mib": rss, "native_peak_rss_mib": nm.Median, "rss_ratio": rss / nm.Median}}
	keyedNote := addKeyed(f.Extra, keyed, rate.Median, cpu)
	f.Finish()
	f.Note = fmt.Sprintf("CPU %.1f vs %.1f µs/record = %.2f×, goal ≤ 1.0; peak RSS %.0f vs %.0f MiB = %.2f×, goal ≤ 1.5; %s; ceiling: kafka-producer-perf-test %.0f records/s",
		cpu, nc.Median, f.Extra["cpu_ratio"], rss, nm.Median, f.Extra["rss_ratio"], keyedNote, s.perf.Median)
	s.res.Figures = append(s.res.Figures, f)
	return nil
}

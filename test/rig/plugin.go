package rig

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agentobs/agentobs/internal/loadgen"
)

// PluginHost says what runs the plugin: real Fluent Bit when
// Bins["fluent-bit"] is set, else the flbhost stand-in.
func (p *Pipeline) PluginHost() string {
	if fb := p.opt.Bins["fluent-bit"]; fb != "" {
		return "real Fluent Bit (" + fb + ")"
	}
	return "flbhost (loads the .so as Fluent Bit's Go proxy does; no real Fluent Bit was found)"
}

// PluginInput is the file of load generator lines the plugin path sent:
// the file real Fluent Bit tails, or the corpus flbhost's chunks were cut from.
func (p *Pipeline) PluginInput() string {
	if p.opt.Bins["fluent-bit"] != "" {
		return filepath.Join(p.opt.WorkDir, "fluent-bit", "agents.log")
	}
	return filepath.Join(p.opt.WorkDir, "plugin-input.ndjson")
}

// startPlugin sends a second load generator run through the Fluent Bit
// plugin: in real Fluent Bit when there is one, else through flbhost.
func (p *Pipeline) startPlugin(ctx context.Context) error {
	if p.opt.Bins["fluent-bit"] != "" {
		return p.startFluentBit()
	}
	return p.startFlbhost(ctx)
}

// startFluentBit runs a second load generator writing a file at PluginRate
// and real Fluent Bit tailing it (tail DB, filesystem storage) into the
// plugin (Workers 2), the way the shipped fluent-bit.conf does: the plugin
// parses each JSON line itself.
func (p *Pipeline) startFluentBit() error {
	o := p.opt
	dir := filepath.Join(o.WorkDir, "fluent-bit")
	if err := os.MkdirAll(filepath.Join(dir, "storage"), 0o755); err != nil {
		return err
	}
	lines := p.PluginInput()
	if err := os.WriteFile(lines, nil, 0o644); err != nil { // exists before tail starts
		return err
	}
	conf := FluentBitConf(dir, lines, "agents.loadgen", "info", "Instance demo", "Source demo-fluent-bit",
		"Brokers "+strings.Join(o.Brokers, ","), "Topic "+o.Names.Topic, "DLQ_Topic "+o.Names.DLQTopic, "Metrics_Addr "+o.PluginAddr)
	confPath := filepath.Join(dir, "fluent-bit.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	p.Plugin = &Proc{Name: "fluent-bit", Bin: o.Bins["fluent-bit"], Args: []string{"-e", o.Bins["plugin"], "-c", confPath},
		LogPath: filepath.Join(o.WorkDir, "proc", "fluent-bit.log")}
	if err := p.startReady(context.Background(), p.Plugin, "http://"+o.PluginAddr+"/readyz", 30*time.Second); err != nil {
		return err
	}
	p.PluginLoadgen = &Proc{Name: "plugin-loadgen", Bin: o.Bins["agent"], LogPath: filepath.Join(o.WorkDir, "proc", "plugin-loadgen.log"),
		Args: p.loadgenArgs(o.Seed+1000, o.PluginRate, o.RunID+"-fb", lines, filepath.Join(o.WorkDir, "plugin-report.json"))}
	return p.PluginLoadgen.Start()
}

// FluentBitConf is the classic configuration the rigs run real Fluent Bit
// with, the way the shipped fluent-bit.conf does: tail of path from the head
// (tag, a DB and filesystem storage in dir, so chunks survive retries and
// restarts) into the plugin with Workers 2 and no retry limit; the plugin
// parses each JSON line itself, so no parser is set. output adds the
// plugin's own lines ("Brokers …", "Topic …").
func FluentBitConf(dir, path, tag, logLevel string, output ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `[SERVICE]
    Flush         0.25
    Log_Level     %[3]s
    storage.path  %[1]s/storage

[INPUT]
    Name              tail
    Tag               %[4]s
    Path              %[2]s
    DB                %[1]s/tail.db
    Read_from_Head    On
    Refresh_Interval  1
    storage.type      filesystem

[OUTPUT]
    Name          agentobs
    Match         %[4]s
    Workers       2
    Retry_Limit   no_limits
`, dir, path, logLevel, tag)
	for _, l := range output {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// startFlbhost: lines → Fluent Bit msgpack chunks (flbchunk) → the plugin
// .so driven by flbhost exactly as Fluent Bit's Go proxy drives it.
func (p *Pipeline) startFlbhost(ctx context.Context) error {
	o := p.opt
	dir := filepath.Join(o.WorkDir, "chunks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	lines := filepath.Join(o.WorkDir, "plugin-input.ndjson")
	_ = os.Remove(lines)
	records := o.Records
	if records == 0 {
		records = int(float64(o.PluginRate) * o.Duration.Seconds())
	}
	const perChunk, workers = 200, 2
	chunks := (records + perChunk - 1) / perChunk
	if chunks%workers != 0 {
		chunks++
	}
	records = chunks * perChunk
	// Generate in process with timestamps paced at PluginRate from a moment
	// just ahead, matching the host's flush pacing: the end-to-end latency
	// the indexer measures is then real, not the age of a pre-made corpus.
	cfg := loadgen.Config{Seed: o.Seed + 1000, Rate: o.PluginRate, Records: int64(records), RunID: o.RunID + "-fb",
		RecordSize: o.RecordSize, TraceIDSample: 20, Start: time.Now().Add(2 * time.Second)}
	if err := writeCorpus(cfg, lines, filepath.Join(o.WorkDir, "plugin-report.json")); err != nil {
		return fmt.Errorf("plugin corpus: %w", err)
	}
	mk := exec.CommandContext(ctx, o.Bins["flbchunk"], "-in", lines, "-out", dir, "-per-chunk", strconv.Itoa(perChunk), "-format", "v2")
	if out, err := mk.CombinedOutput(); err != nil {
		return fmt.Errorf("flbchunk: %w: %s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.chunk"))
	sort.Strings(files)
	if len(files) == 0 {
		return fmt.Errorf("flbchunk wrote no chunks into %s", dir)
	}
	perWorker := len(files) / workers
	interval := time.Duration(float64(time.Second) * float64(perChunk*workers) / float64(o.PluginRate))
	args := []string{o.Bins["plugin"], "-retry-max", "1000", "-retry-wait-ms", "500", "-interval-ms", strconv.Itoa(int(interval / time.Millisecond)),
		"-i", "demo", "-p", "Brokers=" + strings.Join(o.Brokers, ","), "-p", "Topic=" + o.Names.Topic, "-p", "DLQ_Topic=" + o.Names.DLQTopic,
		"-p", "Metrics_Addr=" + o.PluginAddr, "-p", "Source=demo-fluent-bit", "-tag", "agents.loadgen",
		"-workers", strconv.Itoa(workers), "-repeat", strconv.Itoa(perWorker)}
	// flbhost gives worker w the chunks at positions w*K … w*K+K-1; order
	// the files so that at every step the workers send consecutive chunks
	// (step k: chunks k*W … k*W+W-1), the way time-ordered traffic arrives.
	ordered := make([]string, len(files))
	for w := 0; w < workers; w++ {
		for k := 0; k < perWorker; k++ {
			ordered[w*perWorker+k] = files[k*workers+w]
		}
	}
	for _, f := range ordered {
		args = append(args, "-chunk", f)
	}
	p.Plugin = &Proc{Name: "plugin", Bin: o.Bins["flbhost"], Args: args, LogPath: filepath.Join(o.WorkDir, "proc", "plugin.log")}
	return p.Plugin.Start()
}

func writeCorpus(cfg loadgen.Config, path, reportPath string) error {
	rep, err := loadgen.GenerateFile(cfg, path)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(rep)
	return os.WriteFile(reportPath, b, 0o644)
}

// Command flbchunk turns JSON lines into Fluent Bit chunk files: each line is
// decoded as Fluent Bit's json parser would (an object becomes the record,
// its "time" field the event time) and encoded as Fluent Bit hands events to
// an output plugin. The demo and the benchmarks feed these chunks to the
// plugin through collector/host/flbhost.
//
//	flbchunk -in lines.ndjson -out DIR [-per-chunk 200] [-format v2|v1]
//	flbchunk -version | -h
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/agentobs/agentobs/collector/internal/flbchunk"
	"github.com/agentobs/agentobs/internal/config"
)

var cli = config.CLI{Name: "flbchunk", Stdout: os.Stdout, Summary: "turn JSON lines into Fluent Bit chunk files"}

func main() {
	_, args, err := cli.Route(os.Args[1:])
	if err != nil {
		os.Exit(cli.Exit(os.Stderr, err))
	}
	fs := cli.FlagSet("")
	in := fs.String("in", "", "JSON lines to encode")
	out := fs.String("out", "", "directory for the chunk files (chunk-NNNNNN.chunk)")
	per := fs.Int("per-chunk", 200, "events per chunk")
	format := fs.String("format", "v2", "event format: v2 ([[time, metadata], record], Fluent Bit >= 2.1) or v1 ([time, record])")
	if err := cli.Parse(fs, args); err != nil {
		os.Exit(cli.Exit(os.Stderr, err))
	}
	if err := config.NoArgs(fs); err != nil {
		os.Exit(cli.Exit(os.Stderr, err))
	}
	if err := run(*in, *out, *per, *format); err != nil {
		slog.Error("flbchunk failed", "err", err)
		os.Exit(1)
	}
}

func run(in, out string, per int, format string) error {
	f := flbchunk.V2
	switch format {
	case "v2":
	case "v1":
		f = flbchunk.V1
	default:
		return fmt.Errorf("-format %q: want v1 or v2", format)
	}
	if in == "" || out == "" || per < 1 {
		return fmt.Errorf("-in and -out are required, -per-chunk >= 1")
	}
	src, err := os.Open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	b, n := flbchunk.New(f), 0
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		n++
		if err := os.WriteFile(filepath.Join(out, fmt.Sprintf("chunk-%06d.chunk", n)), b.Bytes(), 0o644); err != nil {
			return err
		}
		b = flbchunk.New(f)
		return nil
	}
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			rec = map[string]any{"log": sc.Text()} // what Fluent Bit keeps for a line its parser rejects
		}
		ts := time.Now()
		if s, ok := rec["time"].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				ts = t
			}
		}
		b.Add(ts, rec, nil)
		if b.Len() == per {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", in, err)
	}
	return flush()
}

package suite

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/agentobs/agentobs/bench/internal/report"
)

// R7 batches: records per request and requests in flight, alike for both
// formats (an OTel SDK's batch processor exports up to 512 records).
const (
	r7Batch      = 500
	r7Concurrent = 4
)

// ingestBody is one prepared request.
type ingestBody struct {
	body    []byte
	records int
}

// r7: the shipper's OTLP/HTTP protobuf ingest (POST /v1/logs) against its
// NDJSON ingest (POST /v1/ndjson) of the same records, each request
// answered only after Kafka acknowledged its records. The bodies are built
// before the shipper starts, so the figure is the shipper's decode, mapping,
// event.id, policy, encode and produce, not the client's encoding.
func (s *Suite) r7(ctx context.Context) error {
	lines, _, err := corpusLines(s.main, s.opt.Records)
	if err != nil {
		return err
	}
	ndjson, otlp, err := ingestBodies(lines)
	if err != nil {
		return err
	}
	n := len(lines)
	var ot, nd, otCPU, ndCPU []float64
	for i := range s.opt.Reps {
		for _, c := range []struct {
			name, path, ct string
			bodies         []ingestBody
			rate, cpu      *[]float64
		}{
			{"NDJSON", "/v1/ndjson", "application/x-ndjson", ndjson, &nd, &ndCPU},
			{"OTLP/HTTP protobuf", "/v1/logs", "application/x-protobuf", otlp, &ot, &otCPU},
		} {
			r, err := s.runIngest(ctx, c.path, c.ct, c.bodies, n, fmt.Sprintf("R7 shipper %s ingest → Kafka ack, rep %d/%d", c.name, i+1, s.opt.Reps))
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			*c.rate = append(*c.rate, r.Rate)
			*c.cpu = append(*c.cpu, r.Usage.CPU.Seconds()/float64(n)*1e6)
			if i == 0 {
				s.component("shipper ("+c.name+" ingest)", "R7", r.Usage, n, false)
			}
		}
	}
	oc, nc := report.Of(otCPU...).Median, report.Of(ndCPU...).Median
	f := report.Figure{ID: "R7", Name: "shipper OTLP/HTTP protobuf logs ingest → Kafka ack", Unit: "records/s", Value: report.Of(ot...),
		RefName: "the shipper's NDJSON ingest of the same records", Ref: report.Of(nd...), Goal: 0.5,
		Extra: map[string]float64{"otlp_cpu_us_per_record": oc, "ndjson_cpu_us_per_record": nc, "cpu_ratio": oc / nc}}
	f.Finish()
	f.Note = fmt.Sprintf("CPU %.1f (OTLP) vs %.1f (NDJSON) µs/record = %.2f×; %d records per request, %d requests in flight",
		oc, nc, oc/nc, r7Batch, r7Concurrent)
	s.prog.Logf("R7: OTLP %.0f records/s, NDJSON %.0f records/s (ratio %.2f); CPU %.1f vs %.1f µs/record", f.Value.Median, f.Ref.Median, f.Ratio, oc, nc)
	s.res.Figures = append(s.res.Figures, f)
	return nil
}

// runIngest starts a shipper with only its HTTP ingest, posts the bodies
// from r7Concurrent clients and stops it once all were answered 200 and
// its produced counter holds every record.
func (s *Suite) runIngest(ctx context.Context, path, ct string, bodies []ingestBody, n int, step string) (shipperRun, error) {
	topic := s.topic("r7")
	if err := s.env.CreateTopic(ctx, topic, s.opt.Partitions); err != nil {
		return shipperRun{}, err
	}
	addr := FreeAddr()
	p, err := Start(s.env.Tmp, s.env.Shipper, []string{
		"-http.ingest", "-http.addr", addr, "-kafka.brokers", strings.Join(s.env.Brokers, ","),
		"-kafka.topic", topic, "-kafka.dlq-topic", topic + "-dlq", "-log.level", "warn", "-host", "bench",
	}, nil)
	if err != nil {
		return shipperRun{}, err
	}
	if err := waitReady(ctx, addr, p.Exited); err != nil {
		p.Stop(10 * time.Second)
		return shipperRun{}, err
	}
	var acked atomic.Int64
	s.prog.Step(step, float64(n), func() float64 { return float64(acked.Load()) })
	work := make(chan ingestBody)
	errs := make(chan error, r7Concurrent)
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: time.Minute}
	t0 := time.Now()
	for range r7Concurrent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				if err := postIngest(ctx, hc, "http://"+addr+path, ct, b.body); err != nil {
					errs <- err
					return
				}
				acked.Add(int64(b.records))
			}
		}()
	}
feed:
	for _, b := range bodies {
		select {
		case work <- b:
		case err := <-errs:
			errs <- err
			break feed
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(t0)
	produced := Scrape(addr, "agentobs_shipper_records_produced_total", `outcome="ok"`)
	use := p.Stop(30 * time.Second)
	select {
	case err := <-errs:
		return shipperRun{}, err
	default:
	}
	if ctx.Err() != nil {
		return shipperRun{}, ctx.Err()
	}
	if int(produced) != n || int(acked.Load()) != n {
		return shipperRun{}, fmt.Errorf("%d records answered 200, %.0f acknowledged by Kafka, want %d", acked.Load(), produced, n)
	}
	return shipperRun{Rate: float64(n) / elapsed.Seconds(), Usage: use}, nil
}

// postIngest POSTs one body and retries it on 429/503 (backpressure), as an
// OTel SDK does; anything but 200 otherwise is an error.
func postIngest(ctx context.Context, hc *http.Client, url, ct string, body []byte) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", ct)
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		res.Body.Close()
		switch res.StatusCode {
		case http.StatusOK:
			return nil
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			time.Sleep(50 * time.Millisecond)
		default:
			return fmt.Errorf("POST %s: %s: %s", url, res.Status, msg)
		}
	}
}

// waitReady polls the shipper's /readyz.
func waitReady(ctx context.Context, addr string, exited func() error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if res, err := http.Get("http://" + addr + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("shipper on %s not ready after 60s", addr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ingestBodies cuts the corpus into r7Batch-record requests, as NDJSON and
// as OTLP protobuf ExportLogsServiceRequests carrying the same records: the
// line's time, level and message as the log record's timestamp, severity
// and body, trace and span ids as bytes, service.name and gen_ai.agent.id
// as resource attributes (one ResourceLogs per service of a batch, as an
// SDK per process would send), every other field as an attribute.
func ingestBodies(lines [][]byte) (ndjson, otlp []ingestBody, err error) {
	for start := 0; start < len(lines); start += r7Batch {
		batch := lines[start:min(start+r7Batch, len(lines))]
		ndjson = append(ndjson, ingestBody{body: bytes.Join(append(batch[:len(batch):len(batch)], nil), []byte("\n")), records: len(batch)})
		req := &collogspb.ExportLogsServiceRequest{}
		byService := map[string]*logspb.ScopeLogs{}
		for _, line := range batch {
			svc, lr, err := otlpRecord(line)
			if err != nil {
				return nil, nil, err
			}
			sl := byService[svc.Key]
			if sl == nil {
				sl = &logspb.ScopeLogs{Scope: &commonpb.InstrumentationScope{Name: "agentobs-bench"}}
				byService[svc.Key] = sl
				req.ResourceLogs = append(req.ResourceLogs, &logspb.ResourceLogs{Resource: &resourcepb.Resource{Attributes: svc.Attrs}, ScopeLogs: []*logspb.ScopeLogs{sl}})
			}
			sl.LogRecords = append(sl.LogRecords, lr)
		}
		b, err := proto.Marshal(req)
		if err != nil {
			return nil, nil, err
		}
		otlp = append(otlp, ingestBody{body: b, records: len(batch)})
	}
	return ndjson, otlp, nil
}

type otlpResource struct {
	Key   string
	Attrs []*commonpb.KeyValue
}

var severities = map[string]logspb.SeverityNumber{"DEBUG": logspb.SeverityNumber_SEVERITY_NUMBER_DEBUG, "INFO": logspb.SeverityNumber_SEVERITY_NUMBER_INFO,
	"WARN": logspb.SeverityNumber_SEVERITY_NUMBER_WARN, "ERROR": logspb.SeverityNumber_SEVERITY_NUMBER_ERROR}

// otlpRecord maps one load generator line to an OTLP log record.
func otlpRecord(line []byte) (otlpResource, *logspb.LogRecord, error) {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return otlpResource{}, nil, fmt.Errorf("corpus line: %w", err)
	}
	str := func(v any) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprint(v)}}
	}
	lr := &logspb.LogRecord{}
	var res otlpResource
	for k, v := range m {
		switch k {
		case "time":
			t, err := time.Parse(time.RFC3339Nano, fmt.Sprint(v))
			if err != nil {
				return res, nil, fmt.Errorf("corpus time: %w", err)
			}
			lr.TimeUnixNano = uint64(t.UnixNano())
		case "level":
			lr.SeverityText, lr.SeverityNumber = fmt.Sprint(v), severities[fmt.Sprint(v)]
		case "msg":
			lr.Body = str(v)
		case "trace_id":
			lr.TraceId, _ = hex.DecodeString(fmt.Sprint(v))
		case "span_id":
			lr.SpanId, _ = hex.DecodeString(fmt.Sprint(v))
		case "service.name", "gen_ai.agent.id":
		default:
			av := str(v)
			if num, ok := v.(json.Number); ok {
				if i, err := num.Int64(); err == nil {
					av = &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
				}
			}
			lr.Attributes = append(lr.Attributes, &commonpb.KeyValue{Key: k, Value: av})
		}
	}
	slices.SortFunc(lr.Attributes, func(a, b *commonpb.KeyValue) int { return strings.Compare(a.Key, b.Key) })
	for _, k := range []string{"service.name", "gen_ai.agent.id"} {
		if v, ok := m[k]; ok {
			res.Key += fmt.Sprint(v) + "|"
			res.Attrs = append(res.Attrs, &commonpb.KeyValue{Key: k, Value: str(v)})
		}
	}
	return res, lr, nil
}

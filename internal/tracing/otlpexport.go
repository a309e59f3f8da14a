package tracing

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agentobs/agentobs/internal/config"
)

// OTLPExport says where a process exports its spans: OTLP/HTTP protobuf to
// an OTLP receiver (the shipper's, an OTel Collector, Jaeger). Without an
// endpoint the standard OTEL_EXPORTER_OTLP_* variables decide, as before.
type OTLPExport struct {
	// Endpoint is the receiver's base URL (http:// or https://); spans are
	// POSTed to Endpoint + "/v1/traces", like OTEL_EXPORTER_OTLP_ENDPOINT.
	// Default "": the OTEL_EXPORTER_OTLP_* environment, else no export.
	Endpoint string
	// Token is sent as "Authorization: Bearer <token>" (the shipper's
	// -http.token). Default "": no header. TokenFile, when set, wins.
	Token     config.Secret
	TokenFile string
	// CAFile verifies an https endpoint against this PEM bundle (default:
	// the system roots); InsecureSkipVerify skips verification (tests only).
	CAFile             string
	InsecureSkipVerify bool
}

// BindOTLP registers the otlp.* flags on fs.
func BindOTLP(fs *flag.FlagSet, o *OTLPExport) {
	fs.StringVar(&o.Endpoint, "otlp.endpoint", o.Endpoint, `OTLP/HTTP receiver spans are exported to, e.g. http://shipper:9401 (POST …/v1/traces); "" leaves it to the OTEL_EXPORTER_OTLP_* environment, else spans are not exported`)
	fs.Var(&o.Token, "otlp.token", "bearer token sent with every export (the shipper's http.token; prefer otlp.token-file or the env var)")
	fs.StringVar(&o.TokenFile, "otlp.token-file", o.TokenFile, "file holding the OTLP bearer token")
	fs.StringVar(&o.CAFile, "otlp.tls.ca-file", o.CAFile, "PEM CA bundle that verifies an https otlp.endpoint (default: system roots)")
	fs.BoolVar(&o.InsecureSkipVerify, "otlp.tls.insecure-skip-verify", o.InsecureSkipVerify, "do not verify the https otlp.endpoint's certificate (tests only)")
}

// Validate checks the export settings, naming the key of each problem.
func (o OTLPExport) Validate() error {
	var errs []error
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("otlp.endpoint: %w", err))
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("otlp.endpoint: %q needs http:// or https://", o.Endpoint))
		case u.Host == "":
			errs = append(errs, fmt.Errorf("otlp.endpoint: %q has no host", o.Endpoint))
		}
	}
	if o.Endpoint == "" && (o.Token != "" || o.TokenFile != "" || o.CAFile != "" || o.InsecureSkipVerify) {
		errs = append(errs, errors.New("otlp.token, otlp.tls.*: set otlp.endpoint too (they apply to it only)"))
	}
	return errors.Join(errs...)
}

// exporter builds the OTLP/HTTP span exporter of o.Endpoint (no I/O).
func (o OTLPExport) exporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	u, err := url.Parse(o.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("otlp.endpoint: %w", err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(u.String())}
	token, err := config.Resolve(o.Token, o.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("otlp.token-file: %w", err)
	}
	if token != "" {
		opts = append(opts, otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + token}))
	}
	if u.Scheme == "https" {
		tc, err := config.ClientTLS(config.TLSFiles{CAFile: o.CAFile, InsecureSkipVerify: o.InsecureSkipVerify})
		if err != nil {
			return nil, fmt.Errorf("otlp.tls: %w", err)
		}
		opts = append(opts, otlptracehttp.WithTLSClientConfig(tc))
	}
	return otlptracehttp.New(ctx, opts...)
}

// countingExporter counts what the wrapped exporter sent and failed to send,
// so a receiver that refuses or is gone shows in a metric, not only in a log.
type countingExporter struct {
	sdktrace.SpanExporter
	exported, failed prometheus.Counter
}

func (c countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := c.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		c.failed.Add(float64(len(spans)))
		return err
	}
	c.exported.Add(float64(len(spans)))
	return nil
}

// SpanExportCounters registers agentobs_<component>_spans_exported_total
// with its outcomes at 0 (Setup does; the metric lint lists it).
func SpanExportCounters(reg prometheus.Registerer, component string) (ok, failed prometheus.Counter, err error) {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agentobs_" + component + "_spans_exported_total",
		Help: "Spans handed to the OTLP exporter, by outcome: exported (the receiver acknowledged) or failed (dropped after the exporter's retries).",
	}, []string{"outcome"})
	if reg != nil {
		if err := reg.Register(v); err != nil {
			return nil, nil, fmt.Errorf("register span export counters: %w", err)
		}
	}
	return v.WithLabelValues("exported"), v.WithLabelValues("failed"), nil
}

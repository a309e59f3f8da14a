package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/agentobs/agentobs/internal/telemetry"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // OTLP/gRPC clients may compress with gzip
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// GRPC is the OTLP/gRPC transport of the receiver: the LogsService and
// TraceService Export calls, with the same bearer token (metadata
// "authorization: Bearer …"), the same size bound (http.max-body-bytes, on
// the decompressed message) and the same queue as OTLP/HTTP. Backpressure
// is UNAVAILABLE with a RetryInfo of 1s, which OTLP exporters retry.
type GRPC struct {
	*telemetry.Bind // Listen, Addr
	rcv             *Receiver
	log             *slog.Logger
	srv             *grpc.Server
}

// NewGRPC builds the server; nothing listens until Listen or Run.
func NewGRPC(addr string, rcv *Receiver, logger *slog.Logger) *GRPC {
	l := logger.With("component", "otlp-grpc")
	g := &GRPC{Bind: telemetry.NewBind(addr, l), rcv: rcv, log: l}
	g.srv = grpc.NewServer(grpc.MaxRecvMsgSize(int(rcv.cfg.MaxBodyBytes)))
	collogspb.RegisterLogsServiceServer(g.srv, logsService{g: g})
	coltracepb.RegisterTraceServiceServer(g.srv, traceService{g: g})
	return g
}

// Run serves until ctx ends, then stops gracefully: calls under way finish
// (each waits at most http.ack-timeout for Kafka) before Run returns.
func (g *GRPC) Run(ctx context.Context) error {
	if err := g.Listen(); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- g.srv.Serve(g.Listener()) }()
	select {
	case err := <-errc:
		return fmt.Errorf("otlp grpc: %w", err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { g.srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(g.rcv.cfg.AckTimeout + time.Second):
		g.srv.Stop()
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("otlp grpc: %w", err)
	}
	return nil
}

// call checks the token, runs export and maps its outcome to a gRPC status.
func (g *GRPC) call(ctx context.Context, export func() (exported, *refusal)) (exported, error) {
	var ref *refusal
	var ex exported
	md, _ := metadata.FromIncomingContext(ctx)
	auth := ""
	if v := md.Get("authorization"); len(v) > 0 {
		auth = v[0]
	}
	if !authorized(g.rcv.set.Token, auth) {
		ref = refuse(http.StatusUnauthorized, shippermetrics.RefusedUnauthorized, "missing or wrong bearer token")
	} else {
		ex, ref = export()
	}
	m := g.rcv.set.Metrics
	if ref == nil {
		m.GRPCRequests.WithLabelValues(codes.OK.String()).Inc()
		return ex, nil
	}
	m.IngestRefused.WithLabelValues(ref.reason).Inc()
	code := grpcCode(ref.code)
	if code == codes.ResourceExhausted && ref.reason == shippermetrics.RefusedQueueFull {
		code = codes.Unavailable // retryable for every OTLP exporter
	}
	m.GRPCRequests.WithLabelValues(code.String()).Inc()
	st := status.New(code, ref.msg)
	if code == codes.Unavailable {
		if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)}); err == nil {
			st = d
		}
	}
	return ex, st.Err()
}

type logsService struct {
	collogspb.UnimplementedLogsServiceServer
	g *GRPC
}

func (s logsService) Export(ctx context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	ex, err := s.g.call(ctx, func() (exported, *refusal) { return s.g.rcv.exportLogs(ctx, req) })
	if err != nil {
		return nil, err
	}
	resp := &collogspb.ExportLogsServiceResponse{}
	if ex.rejected > 0 {
		resp.PartialSuccess = &collogspb.ExportLogsPartialSuccess{RejectedLogRecords: ex.rejected, ErrorMessage: ex.why}
	}
	return resp, nil
}

type traceService struct {
	coltracepb.UnimplementedTraceServiceServer
	g *GRPC
}

func (s traceService) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	ex, err := s.g.call(ctx, func() (exported, *refusal) { return s.g.rcv.exportTraces(ctx, req) })
	if err != nil {
		return nil, err
	}
	resp := &coltracepb.ExportTraceServiceResponse{}
	if ex.rejected > 0 {
		resp.PartialSuccess = &coltracepb.ExportTracePartialSuccess{RejectedSpans: ex.rejected, ErrorMessage: ex.why}
	}
	return resp, nil
}

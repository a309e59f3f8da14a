package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/agentobs/agentobs/internal/telemetry"
	"github.com/agentobs/agentobs/shipper/internal/shippermetrics"
)

// kind is what a request body is, decided from the path, Content-Type and,
// for application/json on /v1/logs, the body itself.
type kind int

const (
	kindNDJSON kind = iota
	kindOTLPLogs
	kindOTLPTraces
)

// Media types.
const (
	mediaProtobuf = "application/x-protobuf"
	mediaJSON     = "application/json"
)

// ndjsonMedia are the Content-Types taken as NDJSON (or a JSON array); an
// absent Content-Type is NDJSON too (the shipper's API before OTLP).
var ndjsonMedia = map[string]bool{"": true, "application/x-ndjson": true, "application/ndjson": true,
	"application/jsonl": true, "application/jsonlines": true, "application/x-jsonlines": true, "text/plain": true,
	mediaJSON: true}

// refusal is an answer that stores nothing.
type refusal struct {
	code   int
	reason string // shippermetrics.Refused*
	msg    string
}

func (r *refusal) Error() string { return r.msg }

func refuse(code int, reason, format string, args ...any) *refusal {
	return &refusal{code: code, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// classify decides what the request is before its body is read: the
// Content-Type must be one the path takes (415 otherwise). proto reports
// an OTLP protobuf body, whose answer is protobuf too.
func classify(path, contentType string) (k kind, proto bool, err *refusal) {
	mt := ""
	if contentType != "" {
		var perr error
		mt, _, perr = mime.ParseMediaType(contentType)
		if perr != nil {
			return 0, false, refuse(http.StatusUnsupportedMediaType, shippermetrics.RefusedUnsupportedMedia,
				"Content-Type %q does not parse: %v", contentType, perr)
		}
	}
	isProto := mt == mediaProtobuf || mt == "application/protobuf"
	switch path {
	case PathTraces:
		if isProto || mt == mediaJSON {
			return kindOTLPTraces, isProto, nil
		}
		return 0, false, refuse(http.StatusUnsupportedMediaType, shippermetrics.RefusedUnsupportedMedia,
			"Content-Type %q: OTLP/HTTP %s takes application/x-protobuf or application/json", mt, PathTraces)
	case PathNDJSON:
		if isProto {
			return 0, false, refuse(http.StatusUnsupportedMediaType, shippermetrics.RefusedUnsupportedMedia,
				"Content-Type %q is OTLP protobuf: POST it to %s or %s; %s takes NDJSON", mt, PathLogs, PathTraces, PathNDJSON)
		}
		if ndjsonMedia[mt] {
			return kindNDJSON, false, nil
		}
		return 0, false, refuse(http.StatusUnsupportedMediaType, shippermetrics.RefusedUnsupportedMedia,
			"Content-Type %q: %s takes application/x-ndjson (or application/json, text/plain)", mt, PathNDJSON)
	default: // PathLogs: OTLP, or NDJSON as before OTLP
		if isProto {
			return kindOTLPLogs, true, nil
		}
		if ndjsonMedia[mt] {
			return kindNDJSON, false, nil // application/json: decided from the body (sniff)
		}
		return 0, false, refuse(http.StatusUnsupportedMediaType, shippermetrics.RefusedUnsupportedMedia,
			"Content-Type %q: %s takes OTLP (application/x-protobuf, application/json) or NDJSON (application/x-ndjson; better POSTed to %s)",
			mt, PathLogs, PathNDJSON)
	}
}

// readBody reads the body within maxBytes, decompressing gzip: the bound
// applies to the bytes on the wire and to the decompressed bytes, so a gzip
// bomb gets 413 after reading at most maxBytes of its output.
func readBody(w http.ResponseWriter, r *http.Request, maxBytes int64) ([]byte, *refusal) {
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	if enc != "" && enc != "identity" && enc != "gzip" && enc != "x-gzip" {
		return nil, refuse(http.StatusUnsupportedMediaType, shippermetrics.RefusedUnsupportedEncoding,
			"Content-Encoding %q not supported: send gzip or no encoding", enc)
	}
	tooBig := func() *refusal {
		return refuse(http.StatusRequestEntityTooLarge, shippermetrics.RefusedTooLarge,
			"body over %d bytes (http.max-body-bytes)", maxBytes)
	}
	raw := http.MaxBytesReader(w, r.Body, maxBytes)
	var src io.Reader = raw
	if enc == "gzip" || enc == "x-gzip" {
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return nil, readError(err, tooBig)
		}
		defer zr.Close()
		src = io.LimitReader(zr, maxBytes+1)
	}
	body, err := io.ReadAll(src)
	if err != nil {
		return nil, readError(err, tooBig)
	}
	if int64(len(body)) > maxBytes {
		return nil, refuse(http.StatusRequestEntityTooLarge, shippermetrics.RefusedTooLarge,
			"gzip body decompresses to over %d bytes (http.max-body-bytes)", maxBytes)
	}
	return body, nil
}

func readError(err error, tooBig func() *refusal) *refusal {
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return tooBig()
	case telemetry.IsBodyTimeout(err):
		return refuse(http.StatusRequestTimeout, shippermetrics.RefusedBodyTimeout, "body not received within http.body-timeout")
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return refuse(http.StatusBadRequest, shippermetrics.RefusedBadEncoding, "Content-Encoding gzip, but the body is not valid gzip: %v", err)
	}
	return refuse(http.StatusBadRequest, shippermetrics.RefusedBadBody, "reading body: %v", err)
}

// looksOTLPJSON reports whether a JSON body is an OTLP/JSON export request
// (one object with resourceLogs or resourceSpans), which must never be
// stored as a single NDJSON record.
func looksOTLPJSON(body []byte) (kind, bool) {
	t := bytes.TrimSpace(body)
	if len(t) == 0 || t[0] != '{' {
		return 0, false
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(t, &probe) != nil {
		return 0, false
	}
	for k := range probe {
		switch k {
		case "resourceLogs", "resource_logs":
			return kindOTLPLogs, true
		case "resourceSpans", "resource_spans":
			return kindOTLPTraces, true
		}
	}
	return 0, false
}

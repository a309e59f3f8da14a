package esclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/elastic/go-elasticsearch/v8"
)

// StatusError is an HTTP error answer from Elasticsearch.
type StatusError struct {
	Method, Path string
	Code         int
	Body         string // first 4 KiB of the answer
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Code, http.StatusText(e.Code), e.Body)
}

// Do sends one JSON request for the APIs the typed client makes awkward
// (templates, mappings, raw searches) and decodes the answer into out (nil:
// discard). in is nil, an io.Reader of NDJSON sent as is, or a value to
// encode as JSON. An error answer is a *StatusError.
func Do(ctx context.Context, cl *elasticsearch.Client, method, path string, in, out any) error {
	var body io.Reader
	ctype := "application/json"
	switch b := in.(type) {
	case nil:
	case io.Reader:
		body, ctype = b, "application/x-ndjson"
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	res, err := cl.Perform(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	if res.StatusCode > 299 {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return &StatusError{Method: method, Path: path, Code: res.StatusCode, Body: string(msg)}
	}
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
		return nil
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return nil
}

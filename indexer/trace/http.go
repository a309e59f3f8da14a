package trace

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Lookup is what the HTTP API needs (Store implements it).
type Lookup interface {
	Trace(ctx context.Context, id string, p Page) (*View, error)
	Session(ctx context.Context, id string, p Page) (*View, error)
	List(ctx context.Context, q ListQuery) ([]Summary, error)
}

// Mux is where routes go (telemetry.Server, http.ServeMux).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Routes mounts the lookup API:
//
//	GET /v1/traces/{id}?size=&page=   summary + records in time order
//	GET /v1/traces?service=&errors=true&since=&limit=
//	GET /v1/sessions/{id}?size=&page=  every trace of a session or conversation
//
// With a non-empty token every route requires "Authorization: Bearer <token>".
func Routes(mux Mux, l Lookup, token string) {
	mux.Handle("GET /v1/traces/{id}", Auth(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := l.Trace(r.Context(), r.PathValue("id"), pageOf(r))
		reply(w, v, err)
	})))
	mux.Handle("GET /v1/sessions/{id}", Auth(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := l.Session(r.Context(), r.PathValue("id"), pageOf(r))
		reply(w, v, err)
	})))
	mux.Handle("GET /v1/traces", Auth(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := ListQuery{Service: r.URL.Query().Get("service"), Version: r.URL.Query().Get("version"), Errors: r.URL.Query().Get("errors") == "true"}
		if s := r.URL.Query().Get("since"); s != "" {
			t, err := parseSince(s)
			if err != nil {
				http.Error(w, "since: want RFC 3339 time or a duration like 15m", http.StatusBadRequest)
				return
			}
			q.Since = t
		}
		q.Limit, _ = strconv.Atoi(r.URL.Query().Get("limit"))
		sums, err := l.List(r.Context(), q)
		reply(w, map[string]any{"traces": sums}, err)
	})))
}

func parseSince(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func pageOf(r *http.Request) Page {
	n, _ := strconv.Atoi(r.URL.Query().Get("size"))
	return Page{Size: n, After: r.URL.Query().Get("page")}
}

func reply(w http.ResponseWriter, v any, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		http.Error(w, "not found", http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Auth requires the bearer token when token is not empty.
func Auth(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

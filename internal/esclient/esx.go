// Package esclient is the one Elasticsearch client setup of agentobs: addresses,
// TLS with a private CA, basic auth or API key (secrets from env or files,
// never logged), shared by the indexer, its tools and the tests.
package esclient

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/agentobs/agentobs/internal/config"
	"github.com/elastic/go-elasticsearch/v8"
)

// Config is how to reach Elasticsearch.
type Config struct {
	// Addresses of the cluster's HTTP endpoints. Default http://127.0.0.1:9200.
	Addresses []string `yaml:"addresses"`
	// Username and Password for basic auth (default none); PasswordFile reads the password from a file.
	Username     string        `yaml:"username"`
	Password     config.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	// APIKey is the base64 "id:key" API key (default none); APIKeyFile reads it from a file.
	APIKey     config.Secret `yaml:"api_key"`
	APIKeyFile string        `yaml:"api_key_file"`
	// CAFile is a PEM CA bundle for https addresses (default: system roots).
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify turns certificate verification off. Default false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// RequestTimeout bounds each HTTP request. Default 60s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// CompressRequests gzips request bodies. Default false (loopback / fast links).
	CompressRequests bool `yaml:"compress_requests"`
}

// DefaultConfig is the local-stack cluster.
func DefaultConfig() Config {
	return Config{Addresses: []string{"http://127.0.0.1:9200"}, RequestTimeout: 60 * time.Second}
}

// RegisterFlags binds c to flags named prefix+"addresses"… (prefix usually "es.").
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	config.NewStringList(fs, &c.Addresses, prefix+"addresses", c.Addresses, "comma-separated Elasticsearch URLs")
	fs.StringVar(&c.Username, prefix+"username", c.Username, "basic auth user")
	fs.Var(&c.Password, prefix+"password", "basic auth password (prefer the env var or -"+prefix+"password-file; never logged)")
	fs.StringVar(&c.PasswordFile, prefix+"password-file", c.PasswordFile, "file holding the basic auth password")
	fs.Var(&c.APIKey, prefix+"api-key", "API key, base64 of id:key (prefer the env var or -"+prefix+"api-key-file)")
	fs.StringVar(&c.APIKeyFile, prefix+"api-key-file", c.APIKeyFile, "file holding the API key")
	fs.StringVar(&c.CAFile, prefix+"ca-file", c.CAFile, "PEM CA bundle for https addresses (default: system roots)")
	fs.BoolVar(&c.InsecureSkipVerify, prefix+"insecure-skip-verify", c.InsecureSkipVerify, "do not verify the server certificate (testing only)")
	fs.DurationVar(&c.RequestTimeout, prefix+"request-timeout", c.RequestTimeout, "timeout of one HTTP request")
	fs.BoolVar(&c.CompressRequests, prefix+"compress-requests", c.CompressRequests, "gzip request bodies")
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Addresses) == 0 {
		errs = append(errs, errors.New("es.addresses: at least one URL is required"))
	}
	for _, a := range c.Addresses {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("es.addresses: %q is not an http(s) URL", a))
		}
	}
	hasBasic := c.Username != "" || c.Password != "" || c.PasswordFile != ""
	hasKey := c.APIKey != "" || c.APIKeyFile != ""
	if hasBasic && hasKey {
		errs = append(errs, errors.New("es: set either basic auth (es.username/es.password) or es.api-key, not both"))
	}
	if hasBasic && c.Username == "" {
		errs = append(errs, errors.New("es.username: required with es.password"))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, errors.New("es.request-timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// HTTPTransport is the transport with TLS settings applied.
func (c Config) HTTPTransport() (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tr.ResponseHeaderTimeout = c.RequestTimeout
	tlsCfg, err := config.ClientTLS(config.TLSFiles{CAFile: c.CAFile, InsecureSkipVerify: c.InsecureSkipVerify})
	if err != nil {
		return nil, fmt.Errorf("es.ca-file: %w", err)
	}
	tr.TLSClientConfig = tlsCfg
	return tr, nil
}

// NewClient builds the client. No request is sent.
func (c Config) NewClient() (*elasticsearch.Client, error) { return c.NewClientWith(nil) }

// NewClientWith builds the client with its transport wrapped by wrap (nil:
// as it is), e.g. by a Watch that sees every request. No request is sent.
func (c Config) NewClientWith(wrap func(http.RoundTripper) http.RoundTripper) (*elasticsearch.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	ht, err := c.HTTPTransport()
	if err != nil {
		return nil, err
	}
	var tr http.RoundTripper = ht
	if wrap != nil {
		tr = wrap(ht)
	}
	pw, err := config.Resolve(c.Password, c.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("es.password-file: %w", err)
	}
	key, err := config.Resolve(c.APIKey, c.APIKeyFile)
	if err != nil {
		return nil, fmt.Errorf("es.api-key-file: %w", err)
	}
	cl, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: c.Addresses, Username: c.Username, Password: pw, APIKey: key,
		Transport: tr, CompressRequestBody: c.CompressRequests,
		// The indexer retries per item with its own backoff; the client's
		// retries would hide 429s from it.
		DisableRetry: true,
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client: %w", err)
	}
	return cl, nil
}

// Ping checks that the cluster answers and is at least yellow (readiness).
// It uses cluster health, not GET /, which the test distribution lacks.
func Ping(ctx context.Context, cl *elasticsearch.Client) error {
	res, err := cl.Cluster.Health(cl.Cluster.Health.WithContext(ctx), cl.Cluster.Health.WithTimeout(time.Second))
	if err != nil {
		return fmt.Errorf("elasticsearch health: %w", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.IsError() {
		return fmt.Errorf("elasticsearch health: %s: %s", res.Status(), b)
	}
	return nil
}

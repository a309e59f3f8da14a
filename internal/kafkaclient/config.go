// Package kafkaclient is the one Kafka client setup of agentobs: connection
// settings (brokers, TLS, SASL PLAIN/SCRAM) shared by every component, the
// synchronous producer used by the collector plugin and the shipper, record
// messages (key and headers), dead-letter messages and topic administration.
//
// It wraps github.com/segmentio/kafka-go with the settings this pipeline
// needs and kafka-go does not default to: acks=all, and a producer that
// sends each Send at once, in one request per partition leader (kafka-go's
// Writer waits a batch timeout and sends one request per partition; see
// produce.go), synchronously (an async producer drops errors).
// kafka-go has no idempotent producer; a retried request may be written twice,
// which is why every record carries a deterministic event.id and the indexer
// writes it as the document id.
package kafkaclient

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/agentobs/agentobs/internal/config"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Default topic names shared by every component (PRODUCT.md).
const (
	DefaultTopic    = "agentobs-logs"
	DefaultDLQTopic = "agentobs-logs-dlq"
	// DefaultSpansTopic receives OTLP spans (one record per span).
	DefaultSpansTopic = "agentobs-spans"
)

// Config is how to reach the Kafka cluster.
type Config struct {
	// Brokers is the bootstrap list, host:port. Default 127.0.0.1:9092.
	Brokers []string `yaml:"brokers"`
	// ClientID names this client in broker logs and quotas. Default "agentobs".
	ClientID string `yaml:"client_id"`
	// DialTimeout bounds each connection attempt. Default 10s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	TLS         TLSConfig     `yaml:"tls"`
	SASL        SASLConfig    `yaml:"sasl"`
}

// TLSConfig enables TLS to the brokers. Verification is on unless
// InsecureSkipVerify is set explicitly.
type TLSConfig struct {
	Enabled            bool   `yaml:"enabled"`              // default false
	CAFile             string `yaml:"ca_file"`              // PEM CA bundle; default: system roots
	CertFile           string `yaml:"cert_file"`            // client certificate for mTLS; default none
	KeyFile            string `yaml:"key_file"`             // its key
	ServerName         string `yaml:"server_name"`          // SNI / verification name override; default from the broker address
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"` // default false; never in production
}

// SASLConfig authenticates to the brokers.
type SASLConfig struct {
	// Mechanism is "", "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512". Default "" (none).
	Mechanism    string        `yaml:"mechanism"`
	Username     string        `yaml:"username"`
	Password     config.Secret `yaml:"password"`      // inline secret; prefer PasswordFile or the env var
	PasswordFile string        `yaml:"password_file"` // file holding the password (secret mounts)
}

// DefaultConfig is the local-stack connection.
func DefaultConfig() Config {
	return Config{Brokers: []string{"127.0.0.1:9092"}, ClientID: "agentobs", DialTimeout: 10 * time.Second}
}

// RegisterFlags binds c to flags named prefix+"brokers", prefix+"tls.enabled"…
// (prefix is usually "kafka."), with c's current values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	config.NewStringList(fs, &c.Brokers, prefix+"brokers", c.Brokers, "comma-separated Kafka bootstrap brokers (host:port)")
	fs.StringVar(&c.ClientID, prefix+"client-id", c.ClientID, "Kafka client id")
	fs.DurationVar(&c.DialTimeout, prefix+"dial-timeout", c.DialTimeout, "timeout of one connection attempt to a broker")
	fs.BoolVar(&c.TLS.Enabled, prefix+"tls.enabled", c.TLS.Enabled, "use TLS to the brokers")
	fs.StringVar(&c.TLS.CAFile, prefix+"tls.ca-file", c.TLS.CAFile, "PEM CA bundle that signs the broker certificates (default: system roots)")
	fs.StringVar(&c.TLS.CertFile, prefix+"tls.cert-file", c.TLS.CertFile, "client certificate (PEM) for mutual TLS")
	fs.StringVar(&c.TLS.KeyFile, prefix+"tls.key-file", c.TLS.KeyFile, "client key (PEM) for mutual TLS")
	fs.StringVar(&c.TLS.ServerName, prefix+"tls.server-name", c.TLS.ServerName, "server name to verify instead of the broker host")
	fs.BoolVar(&c.TLS.InsecureSkipVerify, prefix+"tls.insecure-skip-verify", c.TLS.InsecureSkipVerify, "do not verify broker certificates (testing only)")
	fs.StringVar(&c.SASL.Mechanism, prefix+"sasl.mechanism", c.SASL.Mechanism, "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: none)")
	fs.StringVar(&c.SASL.Username, prefix+"sasl.username", c.SASL.Username, "SASL user name")
	fs.Var(&c.SASL.Password, prefix+"sasl.password", "SASL password (prefer the env var or -"+prefix+"sasl.password-file; never logged)")
	fs.StringVar(&c.SASL.PasswordFile, prefix+"sasl.password-file", c.SASL.PasswordFile, "file holding the SASL password")
}

// Validate reports every problem at once, each naming the key and the fix.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("kafka.brokers: at least one broker is required (host:port)"))
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("kafka.brokers: %q is not host:port", b))
		}
	}
	switch strings.ToUpper(c.SASL.Mechanism) {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.SASL.Username == "" {
			errs = append(errs, errors.New("kafka.sasl.username: required when kafka.sasl.mechanism is set"))
		}
		if c.SASL.Password == "" && c.SASL.PasswordFile == "" {
			errs = append(errs, errors.New("kafka.sasl.password: set it (or kafka.sasl.password-file) when kafka.sasl.mechanism is set"))
		}
	default:
		errs = append(errs, fmt.Errorf("kafka.sasl.mechanism: %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", c.SASL.Mechanism))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("kafka.tls.cert-file and kafka.tls.key-file: set both or neither"))
	}
	if !c.TLS.Enabled && (c.TLS.CAFile != "" || c.TLS.CertFile != "") {
		errs = append(errs, errors.New("kafka.tls.enabled: TLS files are set but TLS is off; set kafka.tls.enabled=true"))
	}
	return errors.Join(errs...)
}

// TLSClientConfig builds the *tls.Config (nil when TLS is off).
func (t TLSConfig) TLSClientConfig() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	cfg, err := config.ClientTLS(config.TLSFiles{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
		ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify})
	if err != nil {
		return nil, fmt.Errorf("kafka.tls: %w", err)
	}
	return cfg, nil
}

// Mechanism builds the SASL mechanism (nil when SASL is off).
func (s SASLConfig) mechanism() (sasl.Mechanism, error) {
	if s.Mechanism == "" {
		return nil, nil
	}
	pw, err := config.Resolve(s.Password, s.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("kafka.sasl.password-file: %w", err)
	}
	switch strings.ToUpper(s.Mechanism) {
	case "PLAIN":
		return plain.Mechanism{Username: s.Username, Password: pw}, nil
	case "SCRAM-SHA-256":
		m, err := scram.Mechanism(scram.SHA256, s.Username, pw)
		if err != nil {
			return nil, fmt.Errorf("scram-sha-256: %w", err)
		}
		return m, nil
	case "SCRAM-SHA-512":
		m, err := scram.Mechanism(scram.SHA512, s.Username, pw)
		if err != nil {
			return nil, fmt.Errorf("scram-sha-512: %w", err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("kafka.sasl.mechanism %q unsupported", s.Mechanism)
}

// security builds the TLS configuration and SASL mechanism once for both
// the Transport (producers, admin) and the Dialer (consumers).
func (c Config) security() (*tls.Config, sasl.Mechanism, error) {
	tlsCfg, err := c.TLS.TLSClientConfig()
	if err != nil {
		return nil, nil, err
	}
	mech, err := c.SASL.mechanism()
	if err != nil {
		return nil, nil, err
	}
	return tlsCfg, mech, nil
}

// Transport is the round tripper for producers and admin calls.
func (c Config) Transport() (*kafka.Transport, error) {
	tlsCfg, mech, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{ClientID: c.ClientID, DialTimeout: c.DialTimeout, TLS: tlsCfg, SASL: mech, MetadataTTL: 30 * time.Second}, nil
}

// Dialer is the dialer for consumers (kafka.Reader).
func (c Config) Dialer() (*kafka.Dialer, error) {
	tlsCfg, mech, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{ClientID: c.ClientID, Timeout: c.DialTimeout, DualStack: true, TLS: tlsCfg, SASLMechanism: mech}, nil
}

// Client is an admin/metadata client over the same transport.
func (c Config) Client() (*kafka.Client, error) {
	tr, err := c.Transport()
	if err != nil {
		return nil, err
	}
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: tr, Timeout: 30 * time.Second}, nil
}

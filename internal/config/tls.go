package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSFiles is what a client needs to build its TLS configuration from files
// (the Kafka and Elasticsearch clients both take these settings).
type TLSFiles struct {
	CAFile             string // PEM CA bundle; "" = system roots
	CertFile, KeyFile  string // client certificate and key for mutual TLS; "" = none
	ServerName         string // verification name override; "" = from the address
	InsecureSkipVerify bool   // never in production
}

// ClientTLS is the one TLS loader: TLS 1.2 or later, the CA bundle as root
// pool, the client key pair. Errors name the file and what is wrong; the
// caller wraps them with its setting's name.
func ClientTLS(f TLSFiles) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName, InsecureSkipVerify: f.InsecureSkipVerify} //nolint:gosec // opt-in, documented
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca file %s: no PEM certificate found", f.CAFile)
		}
		cfg.RootCAs = pool
	}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

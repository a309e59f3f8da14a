package kafkaclient

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestValidateNamesEveryProblem(t *testing.T) {
	c := Config{Brokers: []string{"nohost"}, SASL: SASLConfig{Mechanism: "GSSAPI"}, TLS: TLSConfig{CertFile: "c.pem"}}
	err := c.Validate()
	for _, want := range []string{"kafka.brokers", "kafka.sasl.mechanism", "cert-file and kafka.tls.key-file", "kafka.tls.enabled"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a message naming %s", err, want)
		}
	}
	p := DefaultProducerConfig()
	p.RequiredAcks, p.Compression, p.BatchSize = "most", "brotli", 0
	err = p.Validate()
	for _, want := range []string{"required-acks", "compression", "batch-size"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ProducerConfig.Validate() = %v, want %s named", err, want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config invalid: %v", err)
	}
	if err := DefaultProducerConfig().Validate(); err != nil {
		t.Errorf("default producer config invalid: %v", err)
	}
}

func TestSASLNeedsCredentials(t *testing.T) {
	c := DefaultConfig()
	c.SASL.Mechanism = "SCRAM-SHA-512"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "username") || !strings.Contains(err.Error(), "password") {
		t.Fatalf("want username and password required, got %v", err)
	}
	c.SASL.Username, c.SASL.Password = "u", "p"
	if _, err := c.Transport(); err != nil {
		t.Fatalf("transport: %v", err)
	}
}

func TestSendErrorIsShortAndUnwraps(t *testing.T) {
	werrs := make(kafka.WriteErrors, 500)
	for i := range werrs {
		if i%2 == 0 {
			werrs[i] = fmt.Errorf("dial tcp 127.0.0.1:1: %w", syscall.ECONNREFUSED)
		}
	}
	var err error = newSendError(len(werrs), werrs)
	if len(err.Error()) > 200 || !strings.Contains(err.Error(), "500 records: 250 failed") {
		t.Fatalf("message %d bytes: %.300s", len(err.Error()), err)
	}
	var got kafka.WriteErrors
	if !errors.As(err, &got) || len(got) != 500 {
		t.Fatalf("errors.As WriteErrors: %v", got)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatal("first cause not reachable with errors.Is")
	}
	if reason, retry := Classify(err); reason != "unreachable" || !retry {
		t.Fatalf("Classify = %s %v, want unreachable, retryable", reason, retry)
	}
}

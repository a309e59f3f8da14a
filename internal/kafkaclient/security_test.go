package kafkaclient_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/test/harness"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

// One private SASL_SSL broker for the package: its start costs ~10 s of
// the two shared cores, its users and certificate are made here.
var secure harness.Shared[*secureBroker]

type secureBroker struct {
	srv       *harness.KafkaServer
	ca        *harness.CA
	scramPass string // user "alice", SCRAM-SHA-256 and -512
	plainPass string // user "bob", PLAIN
}

func TestMain(m *testing.M) {
	code := m.Run()
	secure.Close()
	os.Exit(code)
}

func secureKafka(t *testing.T) *secureBroker {
	t.Helper()
	return secure.Get(t, "private SASL_SSL Kafka", func() (*secureBroker, func(), error) {
		ca, rmCA, err := harness.TempCA("agentobs kafkaclient test CA")
		if err != nil {
			return nil, nil, err
		}
		b := &secureBroker{ca: ca, scramPass: harness.RandomSecret("scram"), plainPass: harness.RandomSecret("plain")}
		b.srv, err = harness.LaunchKafka(harness.KafkaServerOptions{SASLSSL: true, CA: ca,
			ScramUsers: map[string]string{"alice": b.scramPass}, PlainUsers: map[string]string{"bob": b.plainPass}})
		if err != nil {
			rmCA()
			return nil, nil, err
		}
		return b, func() { b.srv.Close(); rmCA() }, nil
	})
}

// conn is a kafkax connection to the SASL_SSL listener with verification on.
func (b *secureBroker) conn(mech, user, pass string) kafkaclient.Config {
	c := kafkaclient.DefaultConfig()
	c.Brokers = []string{b.srv.Addr()}
	c.ClientID = "agentobs-itest"
	c.DialTimeout = 20 * time.Second // the first SASL_SSL handshakes of a JVM still warming up take seconds on two busy cores
	c.TLS = kafkaclient.TLSConfig{Enabled: true, CAFile: b.ca.CAFile}
	c.SASL = kafkaclient.SASLConfig{Mechanism: mech, Username: user, Password: config.Secret(pass)}
	return c
}

// Records go through TLS (verified against the test CA) and every SASL
// mechanism agentobs supports, and come back intact through a consumer on
// the same secured listener; topic admin works over it too.
func TestSASLSSLProduceConsume(t *testing.T) {
	b := secureKafka(t)
	for _, tc := range []struct{ mech, user, pass string }{
		{"SCRAM-SHA-512", "alice", b.scramPass},
		{"SCRAM-SHA-256", "alice", b.scramPass},
		{"PLAIN", "bob", b.plainPass},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			conn := b.conn(tc.mech, tc.user, tc.pass)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := kafkaclient.Ping(ctx, conn); err != nil {
				t.Fatalf("ping over SASL_SSL: %v", err)
			}
			topic := harness.Name(t, "sec")
			if err := kafkaclient.EnsureTopics(ctx, conn, kafkaclient.TopicSpec{Name: topic, Partitions: 1}); err != nil {
				t.Fatalf("create topic over SASL_SSL: %v", err)
			}
			pc := kafkaclient.DefaultProducerConfig()
			m := kafkaclient.NewProducerMetrics(prometheus.NewRegistry(), "itest")
			p, err := kafkaclient.NewProducer(conn, pc, m)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			const n = 20
			var msgs []kafka.Message
			for i := 0; i < n; i++ {
				msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf(`{"n":%d}`, i))})
			}
			if err := p.Send(ctx, msgs); err != nil {
				t.Fatalf("send over SASL_SSL: %v", err)
			}
			if got := testutil.ToFloat64(m.Records.WithLabelValues("ok")); got != n {
				t.Fatalf("records ok = %v, want %d", got, n)
			}
			d, err := conn.Dialer()
			if err != nil {
				t.Fatal(err)
			}
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: conn.Brokers, Topic: topic, Partition: 0, Dialer: d,
				MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond})
			defer r.Close()
			for i := 0; i < n; i++ {
				got, err := r.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("consume message %d over SASL_SSL: %v", i, err)
				}
				if want := fmt.Sprintf(`{"n":%d}`, i); string(got.Value) != want {
					t.Fatalf("message %d = %s, want %s", i, got.Value, want)
				}
			}
		})
	}
}

// failedAuths counts the broker's "Failed authentication" log lines.
func (b *secureBroker) failedAuths(t *testing.T) int {
	t.Helper()
	log, err := os.ReadFile(b.srv.LogFile())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(log), "Failed authentication with")
}

// A wrong password is an authentication error the moment the broker says
// so: Ping (readiness) fails with it instead of hanging until a timeout,
// and a Send tries once, returns the error and does not hammer the broker
// with retries; the error names the cause and never the password.
func TestSASLWrongPassword(t *testing.T) {
	b := secureKafka(t)
	for _, mech := range []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"} {
		t.Run(mech, func(t *testing.T) {
			user := map[bool]string{true: "bob", false: "alice"}[mech == "PLAIN"]
			wrong := harness.RandomSecret("wrong")
			conn := b.conn(mech, user, wrong)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			// The broker logs each failed authentication from its own thread,
			// a moment after answering: count only once the log is quiet, so a
			// late line of the previous call is never counted for this one.
			settled := func() int {
				n := b.failedAuths(t)
				for i := 0; i < 50; i++ {
					time.Sleep(200 * time.Millisecond)
					m := b.failedAuths(t)
					if m == n {
						return n
					}
					n = m
				}
				return n
			}
			before := settled()
			start := time.Now()
			err := kafkaclient.Ping(ctx, conn)
			t.Logf("Ping with a wrong password: %v after %s", err, time.Since(start).Round(time.Millisecond))
			if !errors.Is(err, kafka.SASLAuthenticationFailed) {
				t.Fatalf("Ping error = %v, want SASL authentication failed (not a timeout)", err)
			}
			if strings.Contains(err.Error(), wrong) {
				t.Fatalf("Ping error contains the password: %v", err)
			}

			pc := kafkaclient.DefaultProducerConfig()
			m := kafkaclient.NewProducerMetrics(prometheus.NewRegistry(), "itest")
			p, err := kafkaclient.NewProducer(conn, pc, m)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			mid := settled()
			start = time.Now()
			err = p.Send(ctx, []kafka.Message{{Topic: harness.Name(t, "sec"), Value: []byte(`{}`)}})
			t.Logf("Send with a wrong password: %v after %s", err, time.Since(start).Round(time.Millisecond))
			if !errors.Is(err, kafka.SASLAuthenticationFailed) {
				t.Fatalf("Send error = %v, want SASL authentication failed", err)
			}
			if strings.Contains(err.Error(), wrong) {
				t.Fatalf("Send error contains the password: %v", err)
			}
			reason, retryable := kafkaclient.Classify(err)
			if reason != "auth" {
				t.Fatalf("Classify(%v) reason = %q, want auth", err, reason)
			}
			// Retryable for the caller's backoff (the records are fine; the
			// credentials will be fixed), never dead-lettered.
			if !retryable {
				t.Fatalf("Classify(%v) says permanent: callers would dead-letter good records", err)
			}
			if got := testutil.ToFloat64(m.Errors.WithLabelValues("auth")); got != 1 {
				t.Fatalf("produce_errors_total{reason=auth} = %v, want 1", got)
			}
			// Closed before counting: the transport refreshes its metadata in
			// the background while it is open, and each refresh dials (and
			// fails to authenticate) again, which is not this Send's cost.
			p.Close()
			// Broker-side count: Ping and Send each authenticate once. The log
			// line is written by a broker thread; give it a moment.
			harness.Eventually(t, 5*time.Second, func() (bool, string) {
				a, c := mid-before, b.failedAuths(t)-mid
				return a >= 1 && c >= 1, fmt.Sprintf("failed authentications logged: ping %d, send %d", a, c)
			})
			ping, send := mid-before, settled()-mid
			t.Logf("broker saw %d failed authentication(s) for Ping, %d for Send (MaxAttempts %d)", ping, send, pc.MaxAttempts)
			// kafka-go's transport sometimes dials a second connection for the
			// same call (bootstrap and metadata pools are separate), so a call
			// may cost two handshakes; a retry storm costs many more.
			if ping > 2 || send > 2 {
				t.Fatalf("failed authentications: ping %d, send %d; want at most two each (no retry storm)", ping, send)
			}
		})
	}
}

// Verification is on by default: a broker certificate from another CA, or
// checked against the system roots, is refused with a certificate error,
// before any password is sent.
func TestTLSVerification(t *testing.T) {
	b := secureKafka(t)
	other := harness.NewCA(t)
	for name, caFile := range map[string]string{"wrong CA": other.CAFile, "system roots": ""} {
		t.Run(name, func(t *testing.T) {
			conn := b.conn("SCRAM-SHA-512", "alice", b.scramPass)
			conn.TLS.CAFile = caFile
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := kafkaclient.Ping(ctx, conn)
			var unknown x509.UnknownAuthorityError
			if !errors.As(err, &unknown) {
				t.Fatalf("Ping with %s = %v, want an unknown-authority certificate error", name, err)
			}
			if reason, _ := kafkaclient.Classify(err); reason != "auth" {
				t.Fatalf("Classify(%v) = %q, want auth", err, reason)
			}
			if strings.Contains(err.Error(), b.scramPass) {
				t.Fatalf("error contains the password: %v", err)
			}
		})
	}
}

// Nothing turns verification off unless a user asks: not the defaults, not
// the flags' defaults, not enabling TLS.
func TestInsecureSkipVerifyNeverDefault(t *testing.T) {
	c := kafkaclient.DefaultConfig()
	if c.TLS.InsecureSkipVerify {
		t.Fatal("DefaultConfig has InsecureSkipVerify")
	}
	c.TLS.Enabled = true
	tc, err := c.TLS.TLSClientConfig()
	if err != nil || tc.InsecureSkipVerify {
		t.Fatalf("TLSClientConfig() = %+v, %v; want verification on", tc, err)
	}
	var fc kafkaclient.Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fc.RegisterFlags(fs, "kafka.")
	if f := fs.Lookup("kafka.tls.insecure-skip-verify"); f == nil || f.DefValue != "false" {
		t.Fatalf("flag kafka.tls.insecure-skip-verify default = %v, want false", f)
	}
}

// Refused connections (credentials, permissions, certificates) are "auth"
// and retryable: the caller backs off and keeps the records instead of
// dead-lettering them (the dead letter would be refused the same way).
// Record-level refusals stay permanent.
func TestClassifyAuth(t *testing.T) {
	certErr := &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}
	f := func(err error, wantReason string, wantRetry bool) {
		t.Helper()
		if reason, retry := kafkaclient.Classify(err); reason != wantReason || retry != wantRetry {
			t.Errorf("Classify(%v) = %q, %v; want %q, %v", err, reason, retry, wantReason, wantRetry)
		}
	}
	f(fmt.Errorf("produce 3 records: %w", kafka.SASLAuthenticationFailed), "auth", true)
	f(kafka.UnsupportedSASLMechanism, "auth", true)
	f(kafka.ClusterAuthorizationFailed, "auth", true)
	f(fmt.Errorf("kafka metadata: %w", certErr), "auth", true)
	f(x509.HostnameError{Host: "kafka-0"}, "auth", true)
	f(kafka.TopicAuthorizationFailed, "rejected", false)
	f(kafka.MessageSizeTooLarge, "too_large", false)
	f(kafka.NotEnoughReplicas, "rejected", true)
}

package hosttest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/test/harness"
)

// TestFluentBitSASLSSL: the plugin inside real Fluent Bit against a private
// broker that offers clients SASL_SSL only and requires a client
// certificate: TLS verified against the test CA both ways (Kafka_TLS_Crt_File
// and _Key_File), SCRAM-SHA-512, the password from Fluent Bit's environment
// (${KAFKA_PASSWORD}, as the README advises). Every line arrives once
// (topics created over the same connection), and the password is in
// neither Fluent Bit's log nor the plugin's metrics.
func TestFluentBitSASLSSL(t *testing.T) {
	if testing.Short() {
		t.Skip("real Fluent Bit end to end: runs in make test, not with -short")
	}
	ca, err := harness.GenerateCA(t.TempDir(), "agentobs collector test CA")
	if err != nil {
		t.Fatal(err)
	}
	pass := harness.RandomSecret("scram")
	srv := harness.StartKafka(t, harness.KafkaServerOptions{SASLSSL: true, CA: ca, ClientAuth: true, ScramUsers: map[string]string{"alice": pass}})
	client, err := ca.Issue("agentobs-collector")
	if err != nil {
		t.Fatal(err)
	}
	conn := kafkaclient.DefaultConfig()
	conn.Brokers = []string{srv.Addr()}
	conn.DialTimeout = 20 * time.Second // a freshly started JVM's first TLS handshakes take seconds on two busy cores
	conn.TLS = kafkaclient.TLSConfig{Enabled: true, CAFile: ca.CAFile, CertFile: client.CertFile, KeyFile: client.KeyFile}
	conn.SASL = kafkaclient.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "alice", Password: config.Secret(pass)}

	dir := t.TempDir()
	logPath := filepath.Join(dir, "agent.log")
	const n = 400
	appendLines(t, logPath, "s", 0, n, nil)
	topic, dlq := harness.Name(t, "t"), harness.Name(t, "dlq")
	metrics := harness.FreeAddr(t)
	fb := newFluentBit(t, dir, "fluent-bit.conf", classicConf(dir, logPath, "agents", httpPort(t),
		outputProps("agents", srv.Addr(), topic, dlq, "Create_Topics On", "Timeout 20s",
			"Kafka_TLS On", "Kafka_TLS_CA_File "+ca.CAFile, "Kafka_TLS_Crt_File "+client.CertFile, "Kafka_TLS_Key_File "+client.KeyFile,
			"SASL_Mechanism SCRAM-SHA-512", "SASL_Username alice", "SASL_Password ${KAFKA_PASSWORD}",
			"Metrics_Addr "+metrics)), true)
	fb.proc.Env = append(fb.proc.Env, "KAFKA_PASSWORD="+pass)
	fb.start(1)
	delivered(t, conn, topic, "s", n, 90*time.Second, "").exactlyOnce(t, n)
	m := scrape(t, metrics)
	fb.stop()
	conf, _ := os.ReadFile(filepath.Join(dir, "fluent-bit.conf"))
	for what, text := range map[string]string{"Fluent Bit's log": fb.log(), "the plugin's metrics": m, "the config file": string(conf)} {
		if strings.Contains(text, pass) {
			t.Errorf("the SASL password is in %s", what)
		}
	}
}

package harness

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/kafkaclient"
)

// KafkaServerOptions shape a private broker.
type KafkaServerOptions struct {
	// SASLSSL adds a SASL_SSL client listener (Addr) beside the PLAINTEXT
	// one (PlainAddr) the broker and controller use among themselves.
	// CA is required then; the server certificate is for 127.0.0.1 and localhost.
	SASLSSL bool
	CA      *CA
	// ClientAuth makes the SASL_SSL listener require a client certificate
	// signed by CA (ssl.client.auth=required: mutual TLS under SASL).
	ClientAuth bool
	// ScramUsers get SCRAM-SHA-256 and SCRAM-SHA-512 credentials, written
	// into the metadata log when the storage is formatted (name → password).
	ScramUsers map[string]string
	// PlainUsers are accepted by the PLAIN mechanism (name → password).
	PlainUsers map[string]string
	// HeapMB is the JVM heap. Default 256.
	HeapMB int
	// Partitions is num.partitions for auto-created topics. Default 3.
	Partitions int
	// AdvertisedAddr, when set, is the host:port the PLAINTEXT client
	// listener advertises instead of its own: clients bootstrap there and
	// metadata sends them back there, so a test/faultproxy listening on it
	// (forwarding to PlainAddr) carries all of their traffic. Broker and
	// controller traffic then use an INTERNAL listener (DirectAddr) that
	// advertises itself and never passes the proxy.
	AdvertisedAddr string
}

// KafkaServer is a private single-node KRaft broker+controller on free
// loopback ports, for tests that must break, secure or restart a broker
// (the local stack's broker is shared and never touched). Stop, Kill and
// Start keep the data directory and the ports, so a restarted broker is the
// same cluster with the same topics and committed offsets: outage tests
// stop it, watch the pipeline back off, start it, and count records.
type KafkaServer struct {
	server
	opts                                    KafkaServerOptions
	plainPort, ctrlPort, port, internalPort int
	startOffset                             int // size of server.log when the current run started
}

// StartKafka starts a private broker that is removed when the test ends.
// A machine without Java or the stack's Kafka jars skips the test (fails
// under CI=true).
func StartKafka(t testing.TB, o KafkaServerOptions) *KafkaServer {
	t.Helper()
	s, err := LaunchKafka(o)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			unavailable(t, "private Kafka", err)
		}
		t.Fatalf("private Kafka: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// LaunchKafka starts a private broker and waits until it serves requests;
// the caller must Close it (TestMain; see Shared).
func LaunchKafka(o KafkaServerOptions) (*KafkaServer, error) {
	if o.HeapMB == 0 {
		o.HeapMB = 256
	}
	if o.Partitions == 0 {
		o.Partitions = 3
	}
	if o.SASLSSL && o.CA == nil {
		return nil, errors.New("KafkaServerOptions.CA is required with SASLSSL")
	}
	java, err := JavaHome()
	if err != nil {
		return nil, err
	}
	home := stackVar("AGENTOBS_KAFKA_HOME")
	if home == "" {
		return nil, fmt.Errorf("%w: AGENTOBS_KAFKA_HOME unknown (run scripts/stack.sh install)", ErrUnavailable)
	}
	if _, err := os.Stat(filepath.Join(home, "libs")); err != nil {
		return nil, fmt.Errorf("%w: Kafka jars: %v (run scripts/stack.sh install)", ErrUnavailable, err)
	}
	dir, err := os.MkdirTemp("", "agentobs-kafka-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(4)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &KafkaServer{server: server{dir: dir, stopWait: 30 * time.Second}, opts: o, plainPort: ports[0], ctrlPort: ports[1], port: ports[2]}
	if !o.SASLSSL {
		s.port = s.plainPort
	}
	if o.AdvertisedAddr != "" {
		s.internalPort = ports[3]
	}
	fail := func(err error) (*KafkaServer, error) {
		s.Close()
		return nil, err
	}
	props, err := s.properties()
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.properties"), []byte(props), 0o600); err != nil {
		return fail(err)
	}
	javaBin := filepath.Join(java, "bin", "java")
	cp := filepath.Join(home, "libs", "*")
	log4j := "-Dlog4j2.configurationFile=" + filepath.Join(RepoRoot(), "stack", "kafka", "log4j2.properties")
	logsDir := "-Dkafka.logs.dir=" + filepath.Join(dir, "logs")

	// Format the storage; SCRAM credentials go into the first metadata
	// records (KRaft has no ZooKeeper to write them to later without a
	// running broker and an admin client that speaks SASL).
	format := []string{javaBin, "-Xmx128m", log4j, logsDir, "-cp", cp, "kafka.tools.StorageTool", "format",
		// --cluster-id=ID, not "-t ID": a random id may begin with '-', which
		// the tool's argument parser would read as another flag (1 in 64).
		"--cluster-id=" + clusterID(), "-c", filepath.Join(dir, "server.properties")}
	for _, u := range sortedKeys(o.ScramUsers) {
		for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
			format = append(format, "--add-scram", fmt.Sprintf("%s=[name=%s,password=%s]", mech, u, o.ScramUsers[u]))
		}
	}
	out, err := exec.Command(format[0], format[1:]...).CombinedOutput()
	if err != nil {
		return fail(fmt.Errorf("kafka storage format: %v\n%s", err, out))
	}
	s.p = &Proc{
		Name: "private Kafka " + s.PlainAddr(),
		Bin:  javaBin,
		Args: []string{fmt.Sprintf("-Xms%dm", o.HeapMB), fmt.Sprintf("-Xmx%dm", o.HeapMB), "-XX:+UseG1GC",
			"-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true", log4j, logsDir, "-cp", cp, "kafka.Kafka", filepath.Join(dir, "server.properties")},
		LogPath: filepath.Join(dir, "logs", "stdout.log"),
	}
	if err := s.Start(); err != nil {
		return fail(err)
	}
	return s, nil
}

// clusterID is a random 22-character base64url id, as StorageTool random-uuid prints.
func clusterID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// propValue escapes a value for a Java properties file (one line).
func propValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", ``).Replace(s)
}

func (s *KafkaServer) properties() (string, error) {
	var b strings.Builder
	w := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, propValue(v)) }
	w("process.roles", "broker,controller")
	w("node.id", "1")
	w("controller.quorum.voters", fmt.Sprintf("1@127.0.0.1:%d", s.ctrlPort))
	w("controller.listener.names", "CONTROLLER")
	listeners := fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", s.plainPort, s.ctrlPort)
	advertised := fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", s.plainPort)
	if s.opts.AdvertisedAddr != "" {
		// Clients go through the address the test chose (a fault proxy);
		// the broker's own traffic must not, or cutting the proxy would
		// also cut the broker off from itself.
		w("inter.broker.listener.name", "INTERNAL")
		listeners += fmt.Sprintf(",INTERNAL://127.0.0.1:%d", s.internalPort)
		advertised = fmt.Sprintf("PLAINTEXT://%s,INTERNAL://127.0.0.1:%d", s.opts.AdvertisedAddr, s.internalPort)
	} else {
		w("inter.broker.listener.name", "PLAINTEXT")
	}
	if s.opts.SASLSSL {
		listeners += fmt.Sprintf(",SASL_SSL://127.0.0.1:%d", s.port)
		advertised += fmt.Sprintf(",SASL_SSL://127.0.0.1:%d", s.port)
	}
	w("listeners", listeners)
	w("advertised.listeners", advertised)
	w("listener.security.protocol.map", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL")
	w("log.dirs", filepath.Join(s.dir, "data"))
	w("num.partitions", strconv.Itoa(s.opts.Partitions))
	w("auto.create.topics.enable", "true")
	for _, k := range []string{"offsets.topic.replication.factor", "transaction.state.log.replication.factor",
		"transaction.state.log.min.isr", "share.coordinator.state.topic.replication.factor", "share.coordinator.state.topic.min.isr"} {
		w(k, "1")
	}
	w("offsets.topic.num.partitions", "3")
	w("group.initial.rebalance.delay.ms", "0")
	// Outage tests restart the broker; a clean shutdown should not wait long.
	w("controlled.shutdown.enable", "true")
	w("log.segment.bytes", strconv.Itoa(16<<20))
	if !s.opts.SASLSSL {
		return b.String(), nil
	}
	sc, err := s.opts.CA.Issue("127.0.0.1", "localhost")
	if err != nil {
		return "", err
	}
	// Inline PEM (KIP-651): an unencrypted PKCS#8 key needs no ssl.key.password;
	// the file form (ssl.keystore.location) insists on an encrypted key.
	w("ssl.keystore.type", "PEM")
	w("ssl.keystore.key", string(sc.KeyPEM))
	w("ssl.keystore.certificate.chain", string(sc.CertPEM))
	w("ssl.truststore.type", "PEM")
	w("ssl.truststore.certificates", string(s.opts.CA.CertPEM()))
	w("ssl.client.auth", "none")
	if s.opts.ClientAuth {
		// KIP-684: a SASL_SSL listener ignores the broker-wide
		// ssl.client.auth; only the listener-prefixed one applies.
		w("listener.name.sasl_ssl.ssl.client.auth", "required")
	}
	mechs := []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}
	for _, m := range []string{"scram-sha-256", "scram-sha-512"} {
		w("listener.name.sasl_ssl."+m+".sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required;")
	}
	if len(s.opts.PlainUsers) > 0 {
		mechs = append(mechs, "PLAIN")
		jaas := "org.apache.kafka.common.security.plain.PlainLoginModule required"
		for _, u := range sortedKeys(s.opts.PlainUsers) {
			jaas += fmt.Sprintf(" user_%s=%q", u, s.opts.PlainUsers[u])
		}
		w("listener.name.sasl_ssl.plain.sasl.jaas.config", jaas+";")
	}
	w("sasl.enabled.mechanisms", strings.Join(mechs, ","))
	return b.String(), nil
}

// Addr is the client listener: SASL_SSL when SASLSSL, else PLAINTEXT (by
// way of AdvertisedAddr when set).
func (s *KafkaServer) Addr() string {
	if s.opts.SASLSSL {
		return fmt.Sprintf("127.0.0.1:%d", s.port)
	}
	return s.ClientAddr()
}

// PlainAddr is the PLAINTEXT listener (no TLS, no authentication).
func (s *KafkaServer) PlainAddr() string { return fmt.Sprintf("127.0.0.1:%d", s.plainPort) }

// LogFile is the broker's server.log.
func (s *KafkaServer) LogFile() string { return filepath.Join(s.dir, "logs", "server.log") }

// ClientAddr is where PLAINTEXT clients bootstrap: AdvertisedAddr when
// set (the fault proxy), else PlainAddr.
func (s *KafkaServer) ClientAddr() string {
	if s.opts.AdvertisedAddr != "" {
		return s.opts.AdvertisedAddr
	}
	return s.PlainAddr()
}

// DirectAddr is a PLAINTEXT listener that advertises itself: the INTERNAL
// listener when AdvertisedAddr is set (traffic that must bypass the proxy:
// readiness, test bookkeeping, a consumer kept out of the fault), else PlainAddr.
func (s *KafkaServer) DirectAddr() string {
	if s.internalPort != 0 {
		return fmt.Sprintf("127.0.0.1:%d", s.internalPort)
	}
	return s.PlainAddr()
}

// PlainConfig is a kafkax connection to the PLAINTEXT client listener, by
// way of AdvertisedAddr when set.
func (s *KafkaServer) PlainConfig() kafkaclient.Config { return s.config(s.ClientAddr()) }

// DirectConfig is a kafkax connection that never passes AdvertisedAddr.
func (s *KafkaServer) DirectConfig() kafkaclient.Config { return s.config(s.DirectAddr()) }

func (s *KafkaServer) config(addr string) kafkaclient.Config {
	c := kafkaclient.DefaultConfig()
	c.Brokers = []string{addr}
	c.ClientID = "agentobs-itest"
	c.DialTimeout = 5 * time.Second
	return c
}

// Start (re)starts the broker on the same data directory and ports and
// waits until it answers metadata requests (up to 90s).
func (s *KafkaServer) Start() error {
	s.startOffset = 0
	if fi, err := os.Stat(s.LogFile()); err == nil {
		s.startOffset = int(fi.Size())
	}
	if err := s.p.Start(); err != nil {
		return err
	}
	ready := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		// A metadata answer alone comes before the broker finished its
		// start-up (it can still refuse produce requests); the log line
		// is the same signal scripts/stack.sh waits for.
		if err := kafkaclient.Ping(ctx, s.DirectConfig()); err != nil {
			return err
		}
		b, _ := os.ReadFile(s.LogFile())
		if len(b) < s.startOffset || !strings.Contains(string(b[s.startOffset:]), "Kafka Server started") {
			return errors.New(`no "Kafka Server started" in server.log yet`)
		}
		return nil
	}
	return s.p.WaitReady(90*time.Second, ready, s.LogFile(), s.p.LogPath)
}

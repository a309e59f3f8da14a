package plugin

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/agentobs/agentobs/internal/config"
	"github.com/agentobs/agentobs/internal/kafkaclient"
	"github.com/agentobs/agentobs/internal/publish"
	"github.com/agentobs/agentobs/internal/record"
)

// ConfigGetter reads one property of the [OUTPUT] section; "" when unset.
// Fluent Bit serves it through output_get_property (case-insensitive keys,
// ${ENV} already expanded); tests use a map.
type ConfigGetter interface {
	Get(key string) string
}

// MapConfig is a ConfigGetter over a map with case-insensitive keys.
type MapConfig map[string]string

// Get implements ConfigGetter.
func (m MapConfig) Get(key string) string {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// Config is one [OUTPUT] instance. Every field's comment names its
// property and default; Keys lists them for the README and tests.
type Config struct {
	// Instance (property "Instance") names the output in metrics (label
	// output) and in the producer id. Default "agentobs.<n>", n counting
	// instances of this process in init order, like Fluent Bit's own names.
	// (Fluent Bit keeps "Alias" to itself; a Go plugin cannot read it.)
	Instance string
	// Source ("Source") is the host identity in event.id; two Fluent Bits
	// reading the same tag must differ here. Default the host name.
	Source string
	// Kafka: Brokers, Kafka_TLS*, SASL_*.
	Kafka kafkaclient.Config
	// Producer: Compression, Required_Acks, Batch_Size, Batch_Bytes,
	// Max_In_Flight, Timeout.
	Producer kafkaclient.ProducerConfig
	// Edge: Topic, Topic_Key, DLQ_Topic, Key_Strategy (trace_id, event_id or
	// none), Max_Record_Bytes, Oversize, Redact,
	// Content_Max_Bytes.
	Edge publish.Config
	// Marks: Marks_Topic (default "<Topic>-marks"), Marks_Interval
	// (default 30s; 0 only at shutdown): the instance's high-water mark
	// (last sequence number stamped), read by the indexer's loss audit.
	Marks publish.MarksConfig
	// Canary: Canary_Interval (default 30s; 0 off): an end-to-end canary
	// record sent through the instance's edge and producer, source
	// "collector/<Source>/<Instance>" (internal/publish, canary.go).
	Canary publish.CanaryConfig
	// Timeout ("Timeout") bounds one flush's wait for Kafka; past it the
	// flush returns FLB_RETRY. Default 10s.
	Timeout time.Duration
	// Parse options: Level_Key, Service_Key, Message_Key, Time_Key (comma
	// lists of extra field names), Default_Service.
	Parse record.ParseOptions
	// MetricsAddr ("Metrics_Addr") serves /metrics, /healthz, /readyz.
	// Default "" (off). Instances naming the same address share one listener.
	MetricsAddr string
	// LogLevel ("Plugin_Log_Level"): debug, info (default), warn, error.
	LogLevel string
	// CreateTopics ("Create_Topics"): at init, create Topic and DLQ_Topic
	// when the cluster says they do not exist (broker defaults for
	// partitions and replication). Default off: a missing topic fails init.
	CreateTopics bool
	// DebugPprof ("Debug_Pprof") serves Go's /debug/pprof on Metrics_Addr
	// (CPU and heap profiles of the plugin inside Fluent Bit). Default off.
	DebugPprof bool
	// GoMemoryLimit ("Go_Memory_Limit") is the soft memory limit of the Go
	// runtime inside Fluent Bit (runtime/debug.SetMemoryLimit): the garbage
	// collector works harder as the Go heap nears it. One Go runtime serves
	// every [OUTPUT] of the process, so the largest value of its sections
	// applies; GOMEMLIMIT in Fluent Bit's environment overrides it. A soft
	// limit: live data above it is never refused (the collector's CPU share
	// is capped at half then). Default 32 MiB: when the live heap was 16-38
	// MiB (before a chunk went to Kafka in parts) Fluent Bit's peak RSS was
	// 75-77 MiB at 32 MiB against 88-92 at 48 MiB with the same CPU, at 24
	// MiB the CPU grew 10-20 % and at 16 MiB 80 %. 0 leaves Go's default
	// (no limit).
	GoMemoryLimit int64
	// GoGCPercent ("Go_GC_Percent") is the Go runtime's GOGC inside Fluent
	// Bit (runtime/debug.SetGCPercent): the garbage collector lets the heap
	// grow by this percentage of the live data before it collects. The
	// same rules as GoMemoryLimit (the largest of the sections; GOGC in the
	// environment overrides it). Default 50: when the live heap was 5-7
	// MiB at full rate (parts of 512 KiB; about 11 MiB with parts of 2 MiB),
	// Go's 100 left as much again of garbage resident. At 50 the Go heap's
	// resident memory was 9 against 12 MiB and the collector took 0.15
	// against 0.05 µs per record (about 1 % of the process's CPU); at 25
	// 6.5 MiB and 0.33 µs.
	GoGCPercent int
}

// The defaults of Go_Memory_Limit and Go_GC_Percent.
const (
	DefaultGoMemoryLimit = 32 << 20
	DefaultGoGCPercent   = 50
)

// DefaultInstance is the Instance of the n-th output of a process when the
// section names none: like Fluent Bit's own names (kafka.0, kafka.1), n
// is the lowest number no live output of this process uses, so a hot
// reload gives the new outputs the names of the ones it closed.
func DefaultInstance(n int) string { return fmt.Sprintf("agentobs.%d", n) }

// Keys are every property the plugin reads, for documentation and for
// the host program's warning about unknown keys.
var Keys = []string{"Instance", "Source", "Brokers", "Topic", "Topic_Key", "DLQ_Topic", "Key_Strategy",
	"Compression", "Required_Acks", "Batch_Size", "Batch_Bytes", "Max_In_Flight", "Timeout",
	"Kafka_TLS", "Kafka_TLS_CA_File", "Kafka_TLS_Crt_File", "Kafka_TLS_Key_File", "Kafka_TLS_Verify",
	"Kafka_TLS_Server_Name", "SASL_Mechanism", "SASL_Username", "SASL_Password", "SASL_Password_File",
	"Level_Key", "Service_Key", "Message_Key", "Time_Key", "Default_Service", "Max_Record_Bytes", "Oversize",
	"Redact", "Content_Max_Bytes", "Metrics_Addr", "Plugin_Log_Level", "Create_Topics", "Debug_Pprof",
	"Marks_Topic", "Marks_Interval", "Canary_Interval", "Go_Memory_Limit", "Go_GC_Percent"}

// DefaultConfig mirrors the shared defaults (kafkax, edge) with the
// collector's timeout; Instance and Source are filled by ParseConfig.
func DefaultConfig() Config {
	c := Config{Kafka: kafkaclient.DefaultConfig(), Producer: kafkaclient.DefaultProducerConfig(), Edge: publish.DefaultConfig(),
		Marks: publish.DefaultMarksConfig(), Canary: publish.DefaultCanaryConfig(), Timeout: 10 * time.Second, LogLevel: "info",
		GoMemoryLimit: DefaultGoMemoryLimit, GoGCPercent: DefaultGoGCPercent}
	c.Kafka.ClientID = clientID
	return c
}

// ParseConfig reads every property from g over the defaults and validates
// the result. instanceSeq numbers the default instance name. Fluent Bit
// cannot enumerate an output's properties to a Go plugin, so a misspelt
// key is silently unset; every value that is set is checked.
func ParseConfig(g ConfigGetter, instanceSeq int) (Config, error) {
	c := DefaultConfig()
	p := parser{g: g}
	c.Instance = p.str("Instance", DefaultInstance(instanceSeq))
	host, _ := os.Hostname()
	c.Source = p.str("Source", host)
	if v := p.list("Brokers"); v != nil {
		c.Kafka.Brokers = v
	}
	c.Edge.Topic = p.str("Topic", c.Edge.Topic)
	c.Edge.TopicField = p.str("Topic_Key", "")
	c.Edge.DLQTopic = p.str("DLQ_Topic", c.Edge.DLQTopic)
	c.Edge.KeyStrategy = strings.ToLower(p.str("Key_Strategy", c.Edge.KeyStrategy))
	c.Producer.Compression = strings.ToLower(p.str("Compression", c.Producer.Compression))
	c.Producer.RequiredAcks = strings.ToLower(p.str("Required_Acks", c.Producer.RequiredAcks))
	c.Producer.BatchSize = p.int("Batch_Size", c.Producer.BatchSize)
	c.Producer.BatchBytes = p.size("Batch_Bytes", c.Producer.BatchBytes)
	c.Producer.MaxInFlight = p.int("Max_In_Flight", c.Producer.MaxInFlight)
	c.Timeout = p.duration("Timeout", c.Timeout)
	c.Marks.Topic = p.str("Marks_Topic", c.Marks.Topic)
	c.Marks.Interval = p.duration("Marks_Interval", c.Marks.Interval)
	c.Canary.Interval = p.duration("Canary_Interval", c.Canary.Interval)
	c.Producer.WriteTimeout = c.Timeout
	c.Kafka.TLS.Enabled = p.bool("Kafka_TLS", false)
	c.Kafka.TLS.CAFile = p.str("Kafka_TLS_CA_File", "")
	c.Kafka.TLS.CertFile = p.str("Kafka_TLS_Crt_File", "")
	c.Kafka.TLS.KeyFile = p.str("Kafka_TLS_Key_File", "")
	c.Kafka.TLS.InsecureSkipVerify = !p.bool("Kafka_TLS_Verify", true)
	c.Kafka.TLS.ServerName = p.str("Kafka_TLS_Server_Name", "")
	c.Kafka.SASL.Mechanism = strings.ToUpper(p.str("SASL_Mechanism", ""))
	c.Kafka.SASL.Username = p.str("SASL_Username", "")
	c.Kafka.SASL.Password = config.Secret(p.str("SASL_Password", ""))
	c.Kafka.SASL.PasswordFile = p.str("SASL_Password_File", "")
	c.Parse.LevelKeys = p.list("Level_Key")
	c.Parse.ServiceKeys = p.list("Service_Key")
	c.Parse.MessageKeys = p.list("Message_Key")
	c.Parse.TimeKeys = p.list("Time_Key")
	c.Parse.DefaultService = p.str("Default_Service", "")
	c.Edge.MaxRecordBytes = int(p.size("Max_Record_Bytes", int64(c.Edge.MaxRecordBytes)))
	c.Edge.Oversize = strings.ToLower(p.str("Oversize", c.Edge.Oversize))
	c.Edge.Policy.Redact = p.bool("Redact", c.Edge.Policy.Redact)
	c.Edge.Policy.MaxContentBytes = int(p.size("Content_Max_Bytes", int64(c.Edge.Policy.MaxContentBytes)))
	c.MetricsAddr = p.str("Metrics_Addr", "")
	c.LogLevel = strings.ToLower(p.str("Plugin_Log_Level", c.LogLevel))
	c.CreateTopics = p.bool("Create_Topics", false)
	c.DebugPprof = p.bool("Debug_Pprof", false)
	c.GoMemoryLimit = p.size("Go_Memory_Limit", c.GoMemoryLimit)
	c.GoGCPercent = p.int("Go_GC_Percent", c.GoGCPercent)
	if err := errors.Join(append(append(p.errs, c.Validate()), outKafkaKeys(g)...)...); err != nil {
		return c, err
	}
	return c, nil
}

// clientID is the plugin's Kafka client id.
const clientID = "agentobs-collector"

// outKafkaKey is a property of Fluent Bit's own out_kafka that this plugin
// does not read, with what to write instead. A user who swaps the Name of
// an out_kafka section would otherwise have it silently ignored (Fluent Bit
// passes a Go plugin every key), e.g. rdkafka.security.protocol.
type outKafkaKey struct {
	key, instead string
	same         string // a value that means what this plugin does anyway ("": none)
}

var outKafka = []outKafkaKey{
	{key: "Topics", instead: "use Topic (one topic; Topic_Key picks one per record)"},
	{key: "Dynamic_Topic", instead: "Topic_Key's value always names the topic"},
	{key: "Message_Key_Field", instead: "the Kafka message key is the record's trace id (Key_Strategy)"},
	{key: "Timestamp_Key", same: "@timestamp", instead: "records always carry @timestamp"},
	{key: "Timestamp_Format", instead: "@timestamp is always RFC 3339 with nanoseconds"},
	{key: "Format", same: "json", instead: "records are always the canonical JSON record"},
	{key: "Raw_Log_Key", instead: "records are always the canonical JSON record"},
	{key: "Queue_Full_Retries", instead: "the plugin queues nothing beyond the chunk it flushes; Kafka's backpressure answers FLB_RETRY"},
	{key: "Client_Id", instead: "the client id is " + clientID},
	{key: "Group_Id", instead: "a producer has no consumer group"},
	{key: "Schema_Str", instead: "Avro is not supported; records are JSON"},
	{key: "Schema_Id", instead: "Avro is not supported; records are JSON"},
	{key: "Schema_Registry_Url", instead: "Avro is not supported; records are JSON"},
	{key: "AWS_MSK_IAM", instead: "MSK IAM authentication is not supported; use SASL_Mechanism SCRAM-SHA-512 or Kafka_TLS client certificates"},
	{key: "rdkafka.compression.codec", instead: "use Compression"},
	{key: "rdkafka.compression.type", instead: "use Compression"},
	{key: "rdkafka.request.required.acks", instead: "use Required_Acks"},
	{key: "rdkafka.acks", instead: "use Required_Acks"},
	{key: "rdkafka.security.protocol", instead: "use Kafka_TLS On for SSL and SASL_SSL, SASL_Mechanism for SASL"},
	{key: "rdkafka.sasl.mechanism", instead: "use SASL_Mechanism"},
	{key: "rdkafka.sasl.mechanisms", instead: "use SASL_Mechanism"},
	{key: "rdkafka.sasl.username", instead: "use SASL_Username"},
	{key: "rdkafka.sasl.password", instead: "use SASL_Password or SASL_Password_File"},
	{key: "rdkafka.ssl.ca.location", instead: "use Kafka_TLS_CA_File"},
	{key: "rdkafka.ssl.certificate.location", instead: "use Kafka_TLS_Crt_File"},
	{key: "rdkafka.ssl.key.location", instead: "use Kafka_TLS_Key_File"},
	{key: "rdkafka.enable.ssl.certificate.verification", instead: "use Kafka_TLS_Verify"},
	{key: "rdkafka.batch.num.messages", instead: "use Batch_Size"},
	{key: "rdkafka.batch.size", instead: "use Batch_Bytes"},
	{key: "rdkafka.message.max.bytes", instead: "use Batch_Bytes and Max_Record_Bytes"},
	{key: "rdkafka.max.in.flight", instead: "use Max_In_Flight"},
	{key: "rdkafka.max.in.flight.requests.per.connection", instead: "use Max_In_Flight"},
	{key: "rdkafka.message.timeout.ms", instead: "use Timeout"},
	{key: "rdkafka.request.timeout.ms", instead: "use Timeout"},
	{key: "rdkafka.linger.ms", instead: "a batch is the Fluent Bit chunk being flushed (Flush sets the pace)"},
	{key: "rdkafka.queue.buffering.max.ms", instead: "a batch is the Fluent Bit chunk being flushed (Flush sets the pace)"},
	{key: "rdkafka.queue.buffering.max.messages", instead: "the plugin queues nothing beyond the chunk it flushes"},
	{key: "rdkafka.queue.buffering.max.kbytes", instead: "the plugin queues nothing beyond the chunk it flushes"},
	{key: "rdkafka.enable.idempotence", instead: "records re-sent by a retry keep their event.id, and the indexer writes each event.id once"},
	{key: "rdkafka.client.id", instead: "the client id is " + clientID},
}

// outKafkaKeys reports every out_kafka property that is set, with what to
// write instead (librdkafka has hundreds of rdkafka.* properties; the ones
// listed are those an out_kafka section commonly sets).
func outKafkaKeys(g ConfigGetter) []error {
	var errs []error
	for _, k := range outKafka {
		v := g.Get(k.key)
		if v == "" || (k.same != "" && strings.EqualFold(v, k.same)) {
			continue
		}
		errs = append(errs, fmt.Errorf("%s: a key of Fluent Bit's out_kafka, not read by this plugin; %s", k.key, k.instead))
	}
	return errs
}

// Validate reports every problem at once, each naming the property.
func (c Config) Validate() error {
	var errs []error
	if c.Instance == "" || strings.ContainsAny(c.Instance, " \t\n\"") {
		errs = append(errs, fmt.Errorf("Instance: %q, want a non-empty name without spaces or quotes", c.Instance))
	}
	if c.Source == "" {
		errs = append(errs, errors.New("Source: empty and the host name is unknown; set Source to this host's name"))
	}
	if c.Timeout < 100*time.Millisecond || c.Timeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("Timeout: %s, want 100ms..5m", c.Timeout))
	}
	if int64(c.Edge.MaxRecordBytes) > c.Producer.BatchBytes-4096 {
		errs = append(errs, fmt.Errorf("Max_Record_Bytes: %d does not fit Batch_Bytes %d with room for headers; lower it or raise Batch_Bytes",
			c.Edge.MaxRecordBytes, c.Producer.BatchBytes))
	}
	if c.DebugPprof && c.MetricsAddr == "" {
		errs = append(errs, errors.New("Debug_Pprof: on, but there is no Metrics_Addr to serve /debug/pprof on; set Metrics_Addr"))
	}
	if c.GoMemoryLimit != 0 && c.GoMemoryLimit < 16<<20 {
		errs = append(errs, fmt.Errorf("Go_Memory_Limit: %d bytes, want 0 (no limit) or at least 16M (below that the collector only collects garbage)", c.GoMemoryLimit))
	}
	if c.GoGCPercent < 10 {
		errs = append(errs, fmt.Errorf("Go_GC_Percent: %d, want at least 10 (below that the collector only collects garbage)", c.GoGCPercent))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("Plugin_Log_Level: %q, want debug, info, warn or error", c.LogLevel))
	}
	errs = append(errs, rename(c.Kafka.Validate()), rename(c.Producer.Validate()), rename(c.Edge.Validate()), rename(c.Marks.Validate()), rename(c.Canary.Validate()))
	return errors.Join(errs...)
}

// rename translates the shared packages' flag names in validation messages
// into this plugin's property names, so the user reads the key they wrote.
var renamer = strings.NewReplacer(
	"kafka.brokers", "Brokers", "kafka.topic", "Topic", "kafka.dlq-topic", "DLQ_Topic",
	"kafka.key-strategy", "Key_Strategy",
	"kafka.required-acks", "Required_Acks", "kafka.compression", "Compression",
	"kafka.batch-size", "Batch_Size", "kafka.batch-bytes", "Batch_Bytes",
	"kafka.write-timeout", "Timeout", "kafka.max-in-flight", "Max_In_Flight",
	"kafka.sasl.mechanism", "SASL_Mechanism", "kafka.sasl.username", "SASL_Username",
	"kafka.sasl.password-file", "SASL_Password_File", "kafka.sasl.password", "SASL_Password",
	"kafka.tls.cert-file", "Kafka_TLS_Crt_File", "kafka.tls.key-file", "Kafka_TLS_Key_File",
	"kafka.tls.enabled: TLS files are set but TLS is off; set kafka.tls.enabled=true",
	"Kafka_TLS_CA_File/Kafka_TLS_Crt_File: TLS files are set but TLS is off; set Kafka_TLS On",
	"kafka.tls.enabled", "Kafka_TLS",
	"record.max-bytes", "Max_Record_Bytes", "record.oversize", "Oversize",
	"content.max-bytes", "Content_Max_Bytes", "kafka.marks-topic", "Marks_Topic", "marks.interval", "Marks_Interval", "canary.interval", "Canary_Interval")

func rename(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(renamer.Replace(err.Error()))
}

// parser reads typed properties, collecting every error.
type parser struct {
	g    ConfigGetter
	errs []error
}

func (p *parser) str(key, def string) string {
	if v := strings.TrimSpace(p.g.Get(key)); v != "" {
		return v
	}
	return def
}

func (p *parser) list(key string) []string {
	v := p.str(key, "")
	if v == "" {
		return nil
	}
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, f)
	}
	return out
}

func (p *parser) int(key string, def int) int {
	v := p.str(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %q is not an integer", key, v))
		return def
	}
	return n
}

// bool accepts Fluent Bit's spellings: on/off, true/false, yes/no, 1/0.
func (p *parser) bool(key string, def bool) bool {
	v := strings.ToLower(p.str(key, ""))
	switch v {
	case "":
		return def
	case "on", "true", "yes", "1":
		return true
	case "off", "false", "no", "0":
		return false
	}
	p.errs = append(p.errs, fmt.Errorf("%s: %q, want on or off", key, v))
	return def
}

// duration accepts Go durations ("5ms", "10s") and, like Fluent Bit's own
// time properties, a plain number of seconds.
func (p *parser) duration(key string, def time.Duration) time.Duration {
	v := p.str(key, "")
	if v == "" {
		return def
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(f * float64(time.Second))
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %q is not a duration (e.g. 5ms, 10s, or seconds)", key, v))
		return def
	}
	return d
}

// size accepts Fluent Bit's size notation: a number with an optional
// K/KB/M/MB/G/GB suffix (powers of 1024, case-insensitive).
func (p *parser) size(key string, def int64) int64 {
	v := strings.ToUpper(p.str(key, ""))
	if v == "" {
		return def
	}
	mult := int64(1)
	for _, s := range []struct {
		suffix string
		m      int64
	}{{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(v, s.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, s.suffix)), s.m
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		p.errs = append(p.errs, fmt.Errorf("%s: %q is not a size (e.g. 1048576, 512K, 1M)", key, p.g.Get(key)))
		return def
	}
	return n * mult
}

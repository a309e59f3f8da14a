package plugin

import (
	"strings"
	"testing"
	"time"

	"github.com/agentobs/agentobs/internal/publish"
)

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig(MapConfig{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if c.Instance != "agentobs.3" || c.Source == "" || c.Edge.KeyStrategy != publish.KeyTraceID || c.Producer.RequiredAcks != "all" ||
		c.Timeout != 10*time.Second || c.Producer.WriteTimeout != c.Timeout || c.Edge.Topic != "agentobs-logs" ||
		c.Edge.DLQTopic != "agentobs-logs-dlq" || c.Kafka.TLS.InsecureSkipVerify || c.Edge.Oversize != "truncate" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestParseConfigEveryKey(t *testing.T) {
	c, err := ParseConfig(MapConfig{
		"instance": "edge-a", "Source": "node-1", "Brokers": "k1:9092, k2:9092", "Topic": "logs", "Topic_Key": "event.dataset",
		"DLQ_Topic": "dead", "Key_Strategy": "EVENT_ID", "Compression": "zstd", "Required_Acks": "one", "Batch_Size": "500",
		"Batch_Bytes": "2M", "Max_In_Flight": "4", "Timeout": "3", "Kafka_TLS": "on",
		"Kafka_TLS_CA_File": "/ca.pem", "Kafka_TLS_Crt_File": "/c.pem", "Kafka_TLS_Key_File": "/k.pem", "Kafka_TLS_Verify": "off",
		"Kafka_TLS_Server_Name": "kafka.internal", "SASL_Mechanism": "scram-sha-512", "SASL_Username": "u", "SASL_Password": "p",
		"Level_Key": "lvl,sev", "Service_Key": "app", "Message_Key": "text", "Time_Key": "ts", "Default_Service": "svc",
		"Max_Record_Bytes": "512K", "Oversize": "DLQ", "Redact": "off", "Content_Max_Bytes": "8k",
		"Metrics_Addr": "127.0.0.1:2021", "Plugin_Log_Level": "debug",
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"instance", c.Instance == "edge-a"},
		{"source", c.Source == "node-1"},
		{"brokers", strings.Join(c.Kafka.Brokers, ",") == "k1:9092,k2:9092"},
		{"topic", c.Edge.Topic == "logs" && c.Edge.TopicField == "event.dataset" && c.Edge.DLQTopic == "dead"},
		{"key", c.Edge.KeyStrategy == publish.KeyEventID},
		{"producer", c.Producer.Compression == "zstd" && c.Producer.RequiredAcks == "one" && c.Producer.BatchSize == 500 &&
			c.Producer.BatchBytes == 2<<20 && c.Producer.MaxInFlight == 4},
		{"timeout", c.Timeout == 3*time.Second && c.Producer.WriteTimeout == 3*time.Second},
		{"tls", c.Kafka.TLS.Enabled && c.Kafka.TLS.CAFile == "/ca.pem" && c.Kafka.TLS.CertFile == "/c.pem" &&
			c.Kafka.TLS.KeyFile == "/k.pem" && c.Kafka.TLS.InsecureSkipVerify && c.Kafka.TLS.ServerName == "kafka.internal"},
		{"sasl", c.Kafka.SASL.Mechanism == "SCRAM-SHA-512" && c.Kafka.SASL.Username == "u" && c.Kafka.SASL.Password.Value() == "p"},
		{"parse", strings.Join(c.Parse.LevelKeys, ",") == "lvl,sev" && c.Parse.ServiceKeys[0] == "app" &&
			c.Parse.MessageKeys[0] == "text" && c.Parse.TimeKeys[0] == "ts" && c.Parse.DefaultService == "svc"},
		{"edge", c.Edge.MaxRecordBytes == 512<<10 && c.Edge.Oversize == "dlq" && !c.Edge.Policy.Redact && c.Edge.Policy.MaxContentBytes == 8<<10},
		{"ops", c.MetricsAddr == "127.0.0.1:2021" && c.LogLevel == "debug"},
	}
	for _, ck := range checks {
		if !ck.ok {
			t.Errorf("%s not applied: %+v", ck.name, c)
		}
	}
}

func TestParseConfigErrorsNameTheKey(t *testing.T) {
	f := func(key, value string) {
		t.Helper()
		_, err := ParseConfig(MapConfig{key: value}, 0)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: error %v does not name the key", key, value, err)
		}
	}
	f("Key_Strategy", "random")
	f("Required_Acks", "2x")
	f("Compression", "brotli")
	f("Batch_Size", "many")
	f("Batch_Size", "0")
	f("Batch_Bytes", "1Q")
	f("Timeout", "1ms")
	f("Max_In_Flight", "0")
	f("Kafka_TLS", "maybe")
	f("Kafka_TLS_Verify", "perhaps")
	f("Kafka_TLS_CA_File", "/ca.pem") // without Kafka_TLS on
	f("SASL_Mechanism", "GSSAPI")
	f("SASL_Mechanism", "PLAIN") // without user and password
	f("Brokers", "no-port")
	f("Oversize", "drop")
	f("Max_Record_Bytes", "10")
	f("Max_Record_Bytes", "4M") // over Batch_Bytes
	f("Plugin_Log_Level", "loud")
	f("Instance", "two words")
	// Every problem at once.
	_, err := ParseConfig(MapConfig{"Key_Strategy": "x", "Compression": "y"}, 0)
	if err == nil || !strings.Contains(err.Error(), "Key_Strategy") || !strings.Contains(err.Error(), "Compression") {
		t.Errorf("want both errors, got %v", err)
	}
}

func TestOutKafkaKeysAreRefusedWithTheirReplacement(t *testing.T) {
	for _, k := range outKafka {
		_, err := ParseConfig(MapConfig{k.key: "x"}, 0)
		if err == nil || !strings.Contains(err.Error(), k.key+": a key of Fluent Bit's out_kafka") || !strings.Contains(err.Error(), k.instead) {
			t.Errorf("%s=x: %v", k.key, err)
		}
	}
	// A section copied from out_kafka: every such key reported at once.
	_, err := ParseConfig(MapConfig{"Topics": "logs", "rdkafka.compression.codec": "lz4", "rdkafka.security.protocol": "SASL_SSL"}, 0)
	for _, want := range []string{"Topics: ", "use Topic ", "rdkafka.compression.codec: ", "use Compression", "rdkafka.security.protocol: ", "use Kafka_TLS On"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("out_kafka section: want %q in %v", want, err)
		}
	}
	// Values that mean what this plugin does anyway are accepted.
	if _, err := ParseConfig(MapConfig{"Format": "JSON", "Timestamp_Key": "@timestamp"}, 0); err != nil {
		t.Errorf("Format json, Timestamp_Key @timestamp: %v", err)
	}
	// No out_kafka key is one this plugin reads.
	for _, k := range outKafka {
		for _, own := range Keys {
			if strings.EqualFold(k.key, own) {
				t.Errorf("%s is both an out_kafka key refused and a key of this plugin", k.key)
			}
		}
	}
}

func TestConfigDebugPprofNeedsMetricsAddr(t *testing.T) {
	if _, err := ParseConfig(MapConfig{"Debug_Pprof": "on"}, 0); err == nil || !strings.Contains(err.Error(), "Debug_Pprof") {
		t.Errorf("Debug_Pprof without Metrics_Addr: %v", err)
	}
	c, err := ParseConfig(MapConfig{"Debug_Pprof": "on", "Metrics_Addr": "127.0.0.1:0", "Create_Topics": "on"}, 0)
	if err != nil || !c.DebugPprof || !c.CreateTopics {
		t.Errorf("Debug_Pprof with Metrics_Addr: %+v, %v", c, err)
	}
}

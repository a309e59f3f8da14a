package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "default.yaml")
	overlay := filepath.Join(dir, "prod.yaml")
	os.WriteFile(base, []byte("kafka:\n  brokers: [a:1, b:2]\n  topic: base\nlevel: debug\nbatch: 10\n"), 0o600)
	os.WriteFile(overlay, []byte("kafka:\n  topic: prod\n"), 0o600)

	f := func(args []string, env map[string]string, wantBrokers, wantTopic, wantLevel string, wantBatch int) {
		t.Helper()
		t.Run("", func(t *testing.T) { check(t, args, env, wantBrokers, wantTopic, wantLevel, wantBatch) })
	}
	f(nil, nil, "def:9092", "deftopic", "info", 1)
	f([]string{"-config", base}, nil, "a:1,b:2", "base", "debug", 10)
	f([]string{"-config", base + "," + overlay}, nil, "a:1,b:2", "prod", "debug", 10)
	f([]string{"-config", base}, map[string]string{"TEST_KAFKA_TOPIC": "env"}, "a:1,b:2", "env", "debug", 10)
	f([]string{"-config", base, "-kafka.topic", "cli"}, map[string]string{"TEST_KAFKA_TOPIC": "env"}, "a:1,b:2", "cli", "debug", 10)
	f(nil, map[string]string{"TEST_CONFIG": overlay}, "def:9092", "prod", "info", 1)
}

func check(t *testing.T, args []string, env map[string]string, wantBrokers, wantTopic, wantLevel string, wantBatch int) {
	for k, v := range env {
		t.Setenv(k, v)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var brokers []string
	var topic, level string
	var batch int
	NewStringList(fs, &brokers, "kafka.brokers", []string{"def:9092"}, "")
	fs.StringVar(&topic, "kafka.topic", "deftopic", "")
	fs.StringVar(&level, "level", "info", "")
	fs.IntVar(&batch, "batch", 1, "")
	if err := Load(fs, args, "test"); err != nil {
		t.Fatalf("Load(%v): %v", args, err)
	}
	got := strings.Join(brokers, ",") + "|" + topic + "|" + level
	if want := wantBrokers + "|" + wantTopic + "|" + wantLevel; got != want || batch != wantBatch {
		t.Errorf("Load(%v, %v) = %s batch %d, want %s batch %d", args, env, got, batch, want, wantBatch)
	}
}

func TestUnknownKeyAndBadValue(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	os.WriteFile(p, []byte("kafka:\n  brokrs: x\nbatch: many\n"), 0o600)
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("kafka.brokers", "", "")
	fs.Int("batch", 1, "")
	err := Load(fs, []string{"-config", p}, "test")
	if err == nil || !strings.Contains(err.Error(), `unknown key "kafka.brokrs"`) || !strings.Contains(err.Error(), `key "batch"`) {
		t.Fatalf("want both problems named, got %v", err)
	}
}

func TestSecretMasked(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var s Secret
	fs.Var(&s, "es.password", "")
	if err := Load(fs, []string{"-es.password", "hunter2"}, "t"); err != nil {
		t.Fatal(err)
	}
	if s.Value() != "hunter2" || strings.Contains(Dump(fs), "hunter2") {
		t.Fatalf("secret leaked or lost: %q", Dump(fs))
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "pw")
	os.WriteFile(p, []byte("fromfile\n"), 0o600)
	if v, err := Resolve(s, p); err != nil || v != "fromfile" {
		t.Fatalf("Resolve = %q, %v", v, err)
	}
}

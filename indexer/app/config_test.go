package app

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	f := func(mutate func(*Config), wantKey string) {
		t.Helper()
		c := DefaultConfig()
		mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), wantKey) {
			t.Errorf("want an error naming %s, got %v", wantKey, err)
		}
	}
	f(func(c *Config) { c.DLQTopic = c.Topic }, "kafka.dlq-topic")
	f(func(c *Config) { c.StartOffset = "middle" }, "kafka.start-offset")
	f(func(c *Config) { c.SessionTimeout = 1 }, "kafka.session-timeout")
	f(func(c *Config) { c.Bulk.MaxDocs = 0 }, "bulk.max-docs")
	f(func(c *Config) { c.Bulk.MaxBytes = 200 << 20 }, "bulk.max-bytes")
	f(func(c *Config) { c.Bulk.Workers = 0 }, "bulk.workers")
	f(func(c *Config) { c.Bulk.MaxBackoff = 1 }, "bulk.initial-backoff")
	f(func(c *Config) { c.MaxPending = 10 }, "commit.max-pending")
	f(func(c *Config) { c.MaxBufferedBytes = c.Bulk.MaxBytes }, "fetch.max-buffered-bytes")
	f(func(c *Config) { c.Bulk.MinBytes = c.Bulk.MaxBytes + 1 }, "bulk.min-bytes")
	f(func(c *Config) { c.MemoryLimit = 1 << 20 }, "memory.limit")
	f(func(c *Config) { c.Names.IndexPattern = "logs" }, "index.pattern")
	f(func(c *Config) { c.ES.Addresses = []string{"nope"} }, "es.addresses")
	f(func(c *Config) { c.Kafka.Brokers = nil }, "kafka.brokers")
	f(func(c *Config) { c.LogLevel = "loud" }, "log.level")
	f(func(c *Config) { c.HTTPToken, c.HTTPTokenFile = "a", "b" }, "http.token")
	if got, want := DefaultConfig().EffectiveMemoryLimit(), int64(176<<20); got != want {
		t.Errorf("derived memory limit %d, want %d", got, want)
	}
}

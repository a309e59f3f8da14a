// Package hosttest holds the collector's end-to-end tests: they build
// out_agentobs.so and load it into real Fluent Bit (harness.FluentBit:
// tail → plugin → Kafka, reload, restart, outage; fluentbit_*_test.go) and
// into the C host program collector/host/flbhost.c, which loads the plugin
// as Fluent Bit's Go proxy does and provokes what real Fluent Bit cannot on
// demand (undecodable chunks, v1 chunks, byte-identical re-sends), and
// check what arrives in Kafka.
package hosttest

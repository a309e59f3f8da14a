// Package hosttest holds the collector's end-to-end tests: they build
// out_agentobs.so and the C host program (collector/host/flbhost.c), which
// loads the plugin exactly as Fluent Bit's Go proxy does, and check what
// arrives in the local stack's Kafka.
package hosttest

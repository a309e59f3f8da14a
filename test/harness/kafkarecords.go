package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// DeleteRecords deletes the records of topic/partition below offset on the
// private broker (Kafka's DeleteRecords, as retention would): the log start
// moves to offset, and a group committed below it is out of range. kafka-go
// has no client for the call, so it runs the Kafka distribution's own tool
// (org.apache.kafka.tools.DeleteRecordsCommand) with the stack's Java.
func (s *KafkaServer) DeleteRecords(ctx context.Context, topic string, partition int, offset int64) error {
	java, err := JavaHome()
	if err != nil {
		return err
	}
	home := stackVar("AGENTOBS_KAFKA_HOME")
	if home == "" {
		return fmt.Errorf("%w: AGENTOBS_KAFKA_HOME unknown (run scripts/stack.sh install)", ErrUnavailable)
	}
	spec := filepath.Join(s.dir, fmt.Sprintf("delete-records-%s-%d.json", topic, partition))
	body := fmt.Sprintf(`{"version":1,"partitions":[{"topic":%q,"partition":%d,"offset":%d}]}`, topic, partition, offset)
	if err := os.WriteFile(spec, []byte(body), 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(java, "bin", "java"), "-Xmx128m", "-XX:TieredStopAtLevel=1",
		"-cp", filepath.Join(home, "libs", "*"), "org.apache.kafka.tools.DeleteRecordsCommand",
		"--bootstrap-server", s.PlainAddr(), "--offset-json-file", spec)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("delete records of %s/%d below %d: %v\n%s", topic, partition, offset, err, out)
	}
	return nil
}

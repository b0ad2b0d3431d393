package readmodel_test

import (
	"testing"

	"github.com/IBM/sarama"

	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// TestSeekGroup: a partition with a stored offset starts there, one
// without starts at the oldest offset, whatever the group committed before.
func TestSeekGroup(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		cfg := messaging.NewSaramaConfig("seek-test")
		topic, group := testinfra.Topic(t, "seek"), testinfra.UniqueName(t, "g")
		if err := messaging.EnsureTopics(kb.Brokers, cfg, topic); err != nil {
			t.Fatal(err)
		}
		prod, err := sarama.NewSyncProducer(kb.Brokers, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		for p := int32(0); p < 2; p++ {
			for i := 0; i < 5; i++ {
				if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: p, Value: sarama.StringEncoder("x")}); err != nil {
					t.Fatal(err)
				}
			}
		}
		end := map[string]int64{readmodel.OffsetField(topic, 0): 5, readmodel.OffsetField(topic, 1): 5}
		if err := readmodel.SeekGroup(kb.Brokers, cfg, group, []string{topic}, end); err != nil {
			t.Fatal(err)
		}
		// Redis now only knows partition 0 at 3: partition 1 must restart
		// from the oldest offset even though the group had committed 5.
		if err := readmodel.SeekGroup(kb.Brokers, cfg, group, []string{topic}, map[string]int64{readmodel.OffsetField(topic, 0): 3}); err != nil {
			t.Fatal(err)
		}
		lags, err := messaging.GroupLag(kb.Brokers, cfg, group, topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lags {
			want := map[int32]int64{0: 3, 1: 0}[l.Partition]
			if l.Partition < 2 && l.Committed != want {
				t.Errorf("partition %d committed %d, want %d", l.Partition, l.Committed, want)
			}
		}
	})
}

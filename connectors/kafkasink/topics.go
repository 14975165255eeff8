package kafkasink

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/hpgate/hpgate/connectors"
)

// EnsureTopics creates those of topics that do not exist, with partitions
// partitions (-1: the broker's num.partitions; 0: DefaultTopicPartitions)
// and replicationFactor replicas (-1 or 0: the broker's
// default.replication.factor), as CreateTopicsConfig says. Existing topics
// are left as they are, whatever their partition count: PartitionCount
// checks that. It returns when the created topics are visible to Write.
// Errors of several topics are joined; a transient one wraps
// connectors.ErrUnavailable.
func (s *Sink) EnsureTopics(ctx context.Context, topics []string, partitions, replicationFactor int) error {
	return s.EnsureTopicsWithConfigs(ctx, topics, partitions, replicationFactor, nil)
}

// EnsureTopicsWithConfigs is EnsureTopics with topic configs for the
// topics it creates: configs(topic) gives them (e.g. retention.ms), nil
// or an empty map for the broker's defaults. Existing topics keep theirs.
func (s *Sink) EnsureTopicsWithConfigs(ctx context.Context, topics []string, partitions, replicationFactor int, configs func(topic string) map[string]string) error {
	if !s.enter() {
		return connectors.ErrClosed
	}
	defer s.wg.Done()
	if len(topics) == 0 {
		return nil
	}
	if partitions == 0 {
		partitions = DefaultTopicPartitions
	}
	if replicationFactor == 0 {
		replicationFactor = DefaultTopicReplicationFactor
	}
	if (partitions < 1 && partitions != -1) || (replicationFactor < 1 && replicationFactor != -1) {
		return fmt.Errorf("ensure topics: bad partitions %d or replication factor %d", partitions, replicationFactor)
	}

	// Ask first, so that a deployment whose user may not create topics
	// still starts when its topics exist.
	res, err := s.client().Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return s.adminError("ensure topics: fetch metadata", err)
	}
	var missing []kafka.TopicConfig
	var errs []error
	for _, t := range res.Topics {
		switch {
		case t.Error == nil:
		case errors.Is(t.Error, kafka.UnknownTopicOrPartition):
			tc := kafka.TopicConfig{
				Topic:             t.Name,
				NumPartitions:     partitions,
				ReplicationFactor: replicationFactor,
			}
			if configs != nil {
				for k, v := range configs(t.Name) {
					tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
				}
			}
			missing = append(missing, tc)
		default:
			errs = append(errs, s.adminError("ensure topic "+t.Name, t.Error))
		}
	}
	if len(missing) > 0 {
		cr, err := s.client().CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: missing})
		if err != nil {
			return s.adminError("create topics", err)
		}
		var created []string
		for _, t := range missing {
			switch e := cr.Errors[t.Topic]; {
			case e == nil:
				created = append(created, t.Topic)
			case errors.Is(e, kafka.TopicAlreadyExists):
				// Created by someone else meanwhile.
			default:
				errs = append(errs, s.adminError("create topic "+t.Topic, e))
			}
		}
		if len(created) > 0 {
			s.log.Info("created topics", "topics", created, "partitions", partitions, "replication_factor", replicationFactor)
		}
	}
	return errors.Join(errs...)
}

// PartitionCount returns the number of partitions of topic, from the
// client's metadata (refreshed every few seconds). A topic that does not
// exist is an error wrapping kafka.UnknownTopicOrPartition. The pipeline
// checks at start that all canonical topics have the same count.
func (s *Sink) PartitionCount(ctx context.Context, topic string) (int, error) {
	if !s.enter() {
		return 0, connectors.ErrClosed
	}
	defer s.wg.Done()
	res, err := s.client().Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, s.adminError("partition count of "+topic, err)
	}
	for _, t := range res.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
				return 0, fmt.Errorf("partition count of %s: topic does not exist: %w", topic, t.Error)
			}
			return 0, s.adminError("partition count of "+topic, t.Error)
		}
		return len(t.Partitions), nil
	}
	return 0, fmt.Errorf("partition count of %s: topic missing from the metadata: %w", topic, kafka.UnknownTopicOrPartition)
}

func (s *Sink) adminError(what string, err error) error {
	if transient(err) {
		return fmt.Errorf("%s: %w: %w", what, connectors.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

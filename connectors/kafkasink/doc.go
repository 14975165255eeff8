// Package kafkasink is the Kafka sink of hpgate: a connectors.Sink on
// segmentio/kafka-go that writes whole batches synchronously with
// acks=all, partitions by key with the Java client's murmur2, reports
// failures per message (connectors.WriteError), marks transient ones with
// connectors.ErrUnavailable, and creates and inspects topics.
//
// It knows nothing of the canonical schema or the topic names: callers
// build the messages. It does not import Prometheus; Stats is adapted by
// monitoring. TLS and SASL (SCRAM-SHA-256/512, PLAIN) secrets come from
// files and environment variables named in Config, read once by New.
package kafkasink

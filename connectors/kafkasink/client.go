package kafkasink

import "github.com/segmentio/kafka-go"

// Client returns a kafka-go client on the sink's brokers and transport
// (TLS, SASL and client id as configured), for the few reads hpgate makes
// of its own topics (the audit, the DLQ re-drive). Requests made through
// it are bounded by the sink's write timeout; it is valid until Close.
func (s *Sink) Client() *kafka.Client { return s.client() }

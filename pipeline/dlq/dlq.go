// Package dlq turns rejected rows into dead-letter messages (hp.dlq/v1):
// the reason for people, the row masked for people to read, and the raw
// row sealed under the deployment key so it can be re-driven once the
// mapping is fixed. Nothing is lost and nothing personal is readable.
package dlq

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/pii"
)

// Topic is the dead-letter topic name under a prefix.
func Topic(prefix string) string { return prefix + "dlq.v1" }

// Message builds the DLQ message of one rejection of batch b. The key is
// the mapping name and the row's display position, so repeats of one row
// land in one partition.
func Message(m *mappings.Mapping, key *pii.Key, topic, connector string, b *connectors.Batch, rj *mappings.Rejection, now time.Time) (connectors.Message, error) {
	row := b.Rows[rj.Row]
	raw, err := mappings.EncodeRawRow(b.Columns, row)
	if err != nil {
		return connectors.Message{}, fmt.Errorf("dlq: encode row of %s: %w", m.Name, err)
	}
	sealed, err := key.Seal(raw)
	if err != nil {
		return connectors.Message{}, fmt.Errorf("dlq: seal row of %s: %w", m.Name, err)
	}
	v := canonical.DLQ{
		Schema:  canonical.DLQSchema,
		Mapping: m.Name,
		County:  m.County,
		Source: canonical.Source{
			System: m.System, Connector: connector, Mapping: m.Name, Position: rj.Position,
		},
		Field:      rj.Field,
		Code:       rj.Code,
		Message:    rj.Message,
		Row:        m.MaskedRow(b.Columns, row),
		Raw:        sealed,
		KeyID:      key.ID(),
		RejectedAt: now.Format(time.RFC3339),
	}
	value, err := json.Marshal(&v)
	if err != nil {
		return connectors.Message{}, err
	}
	return connectors.Message{
		Topic: topic,
		Key:   []byte(m.Name + ":" + rj.Position),
		Value: value,
		Headers: []connectors.Header{
			{Key: "schema", Value: []byte(canonical.DLQSchema)},
			{Key: "county", Value: []byte(m.County)},
			{Key: "source_system", Value: []byte(m.System)},
			{Key: "reason", Value: []byte(rj.Code)},
		},
	}, nil
}

// Open decodes a DLQ value and unseals its raw row.
func Open(key *pii.Key, value []byte) (*canonical.DLQ, []string, []any, error) {
	var v canonical.DLQ
	if err := json.Unmarshal(value, &v); err != nil {
		return nil, nil, nil, fmt.Errorf("dlq: decode: %w", err)
	}
	raw, err := key.Open(v.Raw)
	if err != nil {
		return &v, nil, nil, err
	}
	cols, row, err := mappings.DecodeRawRow(raw)
	return &v, cols, row, err
}

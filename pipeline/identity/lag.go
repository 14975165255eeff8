package identity

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hpgate/hpgate/connectors/kafkasink"
)

// Lag returns how many records of topics the consumer group has not yet
// committed: 0 when the identity stages have caught up with the canonical
// topics. The demo uses it to know when to stop; operators can run it
// against a live group.
func Lag(ctx context.Context, cfg kafkasink.Config, group string, topics []string) (int64, error) {
	opts, err := cfg.FranzOptions()
	if err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return 0, fmt.Errorf("list end offsets: %w", err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	var lag int64
	ends.Each(func(o kadm.ListedOffset) {
		at := int64(0)
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.At > 0 {
			at = c.At
		}
		if o.Offset > at {
			lag += o.Offset - at
		}
	})
	return lag, nil
}

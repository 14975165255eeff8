package kafkasink_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/kafkasink"
)

func Example() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	logger := slog.New(slog.DiscardHandler) // the daemon's logger, narrowed: .With("component", "kafka")
	sink, err := kafkasink.New(kafkasink.Config{Brokers: cluster.ListenAddrs()}, logger)
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close(context.Background())

	ctx := context.Background()
	if err := sink.EnsureTopics(ctx, []string{"hp.person.v1"}, 3, 1); err != nil {
		log.Fatal(err)
	}
	err = sink.Write(ctx, []connectors.Message{{
		Topic:   "hp.person.v1",
		Key:     []byte("k1:9f86d081884c7d659a2feaa0c55ad015"),
		Value:   []byte(`{"schema":"hp.person/v1","op":"upsert"}`),
		Headers: []connectors.Header{{Key: "schema", Value: []byte("hp.person/v1")}},
	}})
	var werr *connectors.WriteError
	switch {
	case errors.As(err, &werr):
		log.Fatalf("some messages failed: %v", werr) // werr.Errs[i] is msgs[i]'s
	case errors.Is(err, connectors.ErrUnavailable):
		log.Fatalf("broker unavailable, retry later: %v", err)
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println("acknowledged:", sink.Stats().Messages)
	// Output: acknowledged: 1
}

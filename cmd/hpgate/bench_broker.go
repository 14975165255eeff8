package main

import (
	"fmt"
	"io"
	"net"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
)

// benchBrokerCmd is the hidden `hpgate bench-broker`: a single-broker
// kfake cluster for `hpgate bench`, in a process of its own so that the
// broker's memory and CPU are not counted as hpgate's. It prints its
// address on stdout and runs until stdin closes (the bench ended or died)
// or a signal.
//
// kfake keeps produced records in memory; with BlackholeProduce it checks
// each batch (CRC, sequence numbers) and advances the offsets but drops
// the bytes, so its memory stays flat whatever the row count, and the
// bench can still count the records by their offsets.
func benchBrokerCmd() *cobra.Command {
	var (
		listen     string
		partitions int
		topics     string
		keep       bool
	)
	cmd := &cobra.Command{
		Use:    "bench-broker --listen HOST:PORT",
		Short:  "The Kafka-protocol broker of `hpgate bench` (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := []kfake.Opt{
				kfake.NumBrokers(1),
				kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, listen) }),
				kfake.AllowAutoTopicCreation(),
				kfake.DefaultNumPartitions(partitions),
			}
			if ts := splitList(topics); len(ts) > 0 {
				opts = append(opts, kfake.SeedTopics(int32(partitions), ts...))
			}
			if !keep {
				opts = append(opts, kfake.BlackholeProduce())
			}
			c, err := kfake.NewCluster(opts...)
			if err != nil {
				return fmt.Errorf("start kfake: %w", err)
			}
			defer c.Close()
			addrs := c.ListenAddrs()
			if len(addrs) == 0 {
				return fmt.Errorf("kfake has no listener")
			}
			fmt.Fprintln(cmd.OutOrStdout(), addrs[0])
			eof := make(chan struct{})
			go func() {
				_, _ = io.Copy(io.Discard, cmd.InOrStdin())
				close(eof)
			}()
			select {
			case <-eof:
			case <-cmd.Context().Done():
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address to listen on")
	cmd.Flags().IntVar(&partitions, "partitions", benchPartitions, "partitions of the seeded and auto-created topics")
	cmd.Flags().StringVar(&topics, "topics", "", "topics to create at start, comma-separated")
	cmd.Flags().BoolVar(&keep, "keep-records", false, "keep produced records in memory (they can then be consumed)")
	return cmd
}

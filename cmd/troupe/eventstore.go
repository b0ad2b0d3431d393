package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/troupe-dev/troupe/embedded/eventstore"
)

// newEventstoreCmd groups the commands of the embedded event store.
func newEventstoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eventstore",
		Short: "The embedded event store (EventStoreDB/KurrentDB gRPC protocol)",
		Args:  noArgs,
	}
	cmd.AddCommand(newEventstoreServeCmd())
	return cmd
}

type eventstoreServeConfig struct {
	addr    string
	dataDir string
}

func newEventstoreServeCmd() *cobra.Command {
	var cfg eventstoreServeConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the embedded event store alone until Ctrl-C",
		Long: "Serves the event store on --addr with its data in --data-dir. Any\n" +
			"EventStoreDB/KurrentDB gRPC client connects with esdb://ADDR?tls=false.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveEventstore(cmd.Context(), cmd.OutOrStdout(), cfg)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:2113", "listen address")
	fs.StringVar(&cfg.dataDir, "data-dir", "./data/eventstore", "directory of the event store's data (created if missing)")
	return cmd
}

func serveEventstore(ctx context.Context, out io.Writer, cfg eventstoreServeConfig) error {
	srv, err := eventstore.Start(ctx, eventstore.Config{Addr: cfg.addr, DataDir: cfg.dataDir})
	if err != nil {
		return fmt.Errorf("%w (change the address with --addr, the data with --data-dir)", err)
	}
	fmt.Fprintf(out, "event store serving %s (data in %s); Ctrl-C stops\n", srv.URL(), cfg.dataDir)
	<-ctx.Done()
	fmt.Fprintln(out, "stopping")
	return srv.Close()
}

package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/troupe-dev/troupe/embedded/psp"
)

// newPSPCmd groups the commands of the card gateway simulator.
func newPSPCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "psp",
		Short: "The card payment gateway simulator (the API of TROUPE_PSP_URL)",
		Args:  noArgs,
	}
	cmd.AddCommand(newPSPServeCmd())
	return cmd
}

func newPSPServeCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the card gateway simulator alone until Ctrl-C",
		Long: "Serves the card gateway's API (POST /payments, GET /payments/{key},\n" +
			"POST /refunds) and its controls (GET and PUT /_sim {latencyMs, declineRate,\n" +
			"down}) on --addr, for `troupe serve payments --psp-url` when no real card\n" +
			"gateway is at hand. Its records are kept in memory only.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return servePSP(cmd.Context(), cmd.OutOrStdout(), addr)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8090", "listen address")
	return cmd
}

func servePSP(ctx context.Context, out io.Writer, addr string) error {
	srv, err := psp.Start(ctx, psp.Config{Addr: addr})
	if err != nil {
		return fmt.Errorf("%w (change it with --addr)", err)
	}
	fmt.Fprintf(out, "card gateway simulator serving %s; Ctrl-C stops\n", srv.URL())
	<-ctx.Done()
	fmt.Fprintln(out, "stopping")
	return srv.Close()
}

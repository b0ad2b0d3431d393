package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newReplayCmd is not built yet.
func newReplayCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "replay",
		Short:  "Replay a stream or rebuild a read model (not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("replay: not built yet")
		},
	}
}

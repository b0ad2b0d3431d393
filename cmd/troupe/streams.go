package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newStreamsCmd is not built yet.
func newStreamsCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "streams",
		Short:  "Browse the event store (not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("streams: not built yet")
		},
	}
}

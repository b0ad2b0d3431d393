package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newDLQCmd is not built yet.
func newDLQCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "dlq",
		Short:  "Dead letters of a subscriber (not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("dlq: not built yet")
		},
	}
}

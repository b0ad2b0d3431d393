package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newLoadCmd is not built yet.
func newLoadCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "load",
		Short:  "Generate load and check the invariants (not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("load: not built yet")
		},
	}
}

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newTokenCmd is not built yet.
func newTokenCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "token",
		Short:  "Print a signed token (not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("token: not built yet")
		},
	}
}

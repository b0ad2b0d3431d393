package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newServeCmd is not built yet.
func newServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "serve",
		Short:  "Run one component of the distributed deployment (not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("serve: not built yet")
		},
	}
}

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newSubscribersLsCmd is not built yet.
func newSubscribersLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "ls",
		Short:  "List consumer groups with lag per partition (not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("ls: not built yet")
		},
	}
}

// newSubscribersResetCmd is not built yet.
func newSubscribersResetCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "reset",
		Short:  "Re-drive history into a subscriber (not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("reset: not built yet")
		},
	}
}

package main

import (
	"github.com/spf13/cobra"
)

// usageError marks bad usage (unknown command or name, bad flag value); the
// CLI exits 2 for it.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// newRootCmd builds the command tree. Each command lives in its own file and
// is added here.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "troupe",
		Short:         "Troupe: a choreographed, event-sourced commerce platform",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newUpCmd(),
		newServeCmd(),
		newEventstoreCmd(),
		newPSPCmd(),
		newTokenCmd(),
		newStreamsCmd(),
		newReplayCmd(),
		newSubscribersCmd(),
		newDLQCmd(),
		newLoadCmd(),
	)
	return root
}

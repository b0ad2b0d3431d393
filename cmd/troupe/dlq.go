package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/troupe-dev/troupe/shared/platform/admin"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// newDLQCmd is `troupe dlq`: a subscriber's dead letters, through the
// running platform's admin API.
func newDLQCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List and redrive a subscriber's dead letters",
		Args:  needSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return needSubcommand(cmd, nil) },
	}
	cmd.AddCommand(newDLQLsCmd(), newDLQRedriveCmd())
	return cmd
}

// oneSubscriber accepts exactly one subscriber name.
func oneSubscriber(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageError{fmt.Errorf("%s: want exactly one subscriber name", cmd.CommandPath())}
	}
	return nil
}

// dlqCall runs one admin call about subscriber name, mapping an unknown
// subscriber and invalid input to bad usage (exit 2).
func dlqCall(ctx context.Context, t *target, method, name, rest string, body, out any) error {
	c, err := t.adminAPI(ctx)
	if err != nil {
		return err
	}
	err = c.do(ctx, method, admin.SubscriberPath(name, rest), body, out)
	switch statusOf(err) {
	case 0:
		return err
	case http.StatusNotFound:
		return c.unknownSubscriber(ctx, name)
	case http.StatusUnprocessableEntity:
		return usageError{err}
	}
	return err
}

func newDLQLsCmd() *cobra.Command {
	var (
		t      target
		output string
	)
	cmd := &cobra.Command{
		Use:   "ls <subscriber>",
		Short: "List a subscriber's outstanding dead letters (failed, or parked behind a failure)",
		Args:  oneSubscriber,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			var list admin.DeadLetterList
			if err := dlqCall(cmd.Context(), &t, http.MethodGet, args[0], "/dlq", nil, &list); err != nil {
				return err
			}
			if list.Items == nil {
				list.Items = []messaging.DeadLetter{}
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				return writeIndentedJSON(out, list.Items)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTREAM\tTYPE\tATTEMPTS\tPARKED\tERROR")
			for _, d := range list.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%t\t%s\n", d.EventID, d.Stream, d.EventType, d.Attempts, d.Parked, oneLine(d.Error))
			}
			return tw.Flush()
		},
	}
	fs := cmd.Flags()
	outputFlag(fs, &output)
	addTargetFlags(fs, &t)
	return cmd
}

func newDLQRedriveCmd() *cobra.Command {
	var (
		t  target
		id string
	)
	cmd := &cobra.Command{
		Use:   "redrive <subscriber> [--id ID]",
		Short: "Feed a subscriber's dead letters back to it, in order (all, or one by id)",
		Long: "Feeds the outstanding dead letters back to that subscriber alone, in order per stream,\n" +
			"and unparks each stream once none of its dead letters is left. With --id, only that one\n" +
			"(refused while an earlier dead letter of its stream waits). A dead letter that still\n" +
			"fails stops the redrive and stays, with what is parked behind it (exit 1).",
		Args: oneSubscriber,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("id") && strings.TrimSpace(id) == "" {
				return usageError{errors.New("--id: must not be empty")}
			}
			var res admin.RedriveResult
			if err := dlqCall(cmd.Context(), &t, http.MethodPost, args[0], "/dlq/redrive", admin.RedriveRequest{ID: id}, &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "redrove %d dead letters of %s\n", res.Redriven, args[0])
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&id, "id", "", "redrive only the dead letter with this event id (see `troupe dlq ls`)")
	addTargetFlags(fs, &t)
	return cmd
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

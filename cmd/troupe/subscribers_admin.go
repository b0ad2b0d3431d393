package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/IBM/sarama"
	"github.com/spf13/cobra"

	"github.com/troupe-dev/troupe/shared/platform/admin"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// subscriberView is one subscriber of `subscribers ls`.
type subscriberView struct {
	// Name is the consumer group.
	Name      string `json:"name"`
	Component string `json:"component,omitempty"`
	// State is the platform's: running, paused or stopped; "unknown" when
	// no process that runs it answered.
	State string `json:"state"`
	// GroupState and Members are Kafka's view of the group (Stable,
	// Empty, ...; "" for a group that never joined).
	GroupState string                   `json:"groupState"`
	Members    int                      `json:"members"`
	Lag        int64                    `json:"lag"`
	Partitions []messaging.PartitionLag `json:"partitions"`
}

// internalGroup reports a consumer group that is bookkeeping, not a
// subscriber: the redrive cursors and Kafka's own.
func internalGroup(name string) bool {
	return strings.HasSuffix(name, ".dlq-redrive") || strings.HasPrefix(name, "_")
}

func newSubscribersLsCmd() *cobra.Command {
	var (
		t      target
		output string
	)
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the subscribers (consumer groups) with their state and lag per partition",
		Long: "Lists the consumer groups of the Kafka cluster (without the .dlq-redrive cursors), with\n" +
			"each partition's committed offset, end offset and lag, and, when the platform's API\n" +
			"answers, whether each subscriber is running, paused or stopped.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx := cmd.Context()
			brokers, err := t.brokers(ctx)
			if err != nil {
				return err
			}
			var fromAPI []admin.Subscriber
			if t.hasAPI() {
				c, err := t.adminAPI(ctx)
				if err == nil {
					fromAPI, err = c.subscribers(ctx)
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "troupe: subscriber states unavailable: %v\n", err)
				}
			}
			list, err := listSubscribers(brokers, fromAPI)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				return writeIndentedJSON(out, list)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SUBSCRIBER\tSTATE\tGROUP\tMEMBERS\tTOPIC\tPARTITION\tCOMMITTED\tEND\tLAG")
			for _, s := range list {
				group := s.GroupState
				if group == "" {
					group = "-"
				}
				if len(s.Partitions) == 0 {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t-\t-\t-\t-\t-\n", s.Name, s.State, group, s.Members)
				}
				for _, p := range s.Partitions {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\n", s.Name, s.State, group, s.Members,
						p.Topic, p.Partition, p.Committed, p.End, p.Lag)
				}
			}
			return tw.Flush()
		},
	}
	fs := cmd.Flags()
	outputFlag(fs, &output)
	addTargetFlags(fs, &t)
	return cmd
}

// listSubscribers joins Kafka's consumer groups with the platform's
// subscribers (which may not have joined their group yet), sorted by name.
func listSubscribers(brokers []string, fromAPI []admin.Subscriber) ([]subscriberView, error) {
	cfg := messaging.NewSaramaConfig("troupe-cli")
	ca, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to Kafka at %v: %w", brokers, err)
	}
	defer ca.Close()
	groups, err := ca.ListConsumerGroups()
	if err != nil {
		return nil, fmt.Errorf("list consumer groups: %w", err)
	}
	views := map[string]*subscriberView{}
	topics := map[string][]string{}
	for g := range groups {
		if !internalGroup(g) {
			views[g] = &subscriberView{Name: g, State: "unknown"}
		}
	}
	for _, s := range fromAPI {
		v := views[s.Name]
		if v == nil {
			v = &subscriberView{Name: s.Name}
			views[s.Name] = v
		}
		v.Component, v.State = s.Component, s.State
		topics[s.Name] = s.Topics
	}
	names := make([]string, 0, len(views))
	for n := range views {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 0 {
		desc, err := ca.DescribeConsumerGroups(names)
		if err != nil {
			return nil, fmt.Errorf("describe consumer groups: %w", err)
		}
		for _, d := range desc {
			if v := views[d.GroupId]; v != nil && d.Err == sarama.ErrNoError {
				v.GroupState, v.Members = d.State, len(d.Members)
				if v.GroupState == "Dead" {
					v.GroupState = ""
				}
			}
		}
	}
	out := make([]subscriberView, 0, len(names))
	for _, n := range names {
		v := views[n]
		ts := topics[n]
		if len(ts) == 0 {
			if ts, err = messaging.GroupTopics(brokers, cfg, n); err != nil {
				return nil, err
			}
		}
		v.Partitions = []messaging.PartitionLag{}
		if len(ts) > 0 {
			lag, err := messaging.GroupLag(brokers, cfg, n, ts...)
			if err != nil {
				return nil, err
			}
			v.Partitions = lag
			for _, l := range lag {
				v.Lag += l.Lag
			}
		}
		out = append(out, *v)
	}
	return out, nil
}

// positionInRedis names the subscribers that store their position with
// their read model in Redis and seek to it at start: a bare offset reset
// would be undone at their next start.
var positionInRedis = map[string]string{
	"projections": "rebuild its read model with `troupe replay projection projections`",
	"loyalty":     "reset it through the running platform's admin API (--http-addr), which also moves the position stored with its points",
}

func newSubscribersResetCmd() *cobra.Command {
	var (
		t  target
		to string
	)
	cmd := &cobra.Command{
		Use:   "reset <name> --to earliest|TIME",
		Short: "Re-drive history into a subscriber from the earliest offsets or a time",
		Long: "Moves a subscriber's consumer group to the earliest offsets or to the first record at or\n" +
			"after TIME (RFC 3339), so it handles that history again. Through the running platform's\n" +
			"admin API (found in endpoints.json or given with --http-addr) it pauses the subscriber,\n" +
			"moves the group and resumes it. Without a platform API it moves the group directly in\n" +
			"Kafka (--kafka-brokers) and refuses while the group has members.\n\n" +
			"What a reset means depends on the subscriber: a webhook re-sends; the contexts and\n" +
			"loyalty apply each event once, so history already applied changes nothing; the\n" +
			"projections refuse (use `troupe replay projection`).",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("subscribers reset: want exactly one subscriber name")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if to == "" {
				return usageError{errors.New("subscribers reset: --to is required (earliest or an RFC 3339 time)")}
			}
			rt, err := messaging.ParseResetTo(to)
			if err != nil {
				return usageError{fmt.Errorf("--to %q: want earliest or an RFC 3339 time such as 2026-01-02T15:04:05Z", to)}
			}
			ctx := cmd.Context()
			var res admin.ResetResult
			if t.hasAPI() {
				res, err = resetThroughAPI(ctx, &t, name, rt)
			} else {
				res, err = resetBare(ctx, &t, name, rt)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reset %s to %s: %d partitions\n", res.Name, res.To, len(res.Partitions))
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TOPIC\tPARTITION\tOFFSET")
			for _, p := range res.Partitions {
				fmt.Fprintf(tw, "%s\t%d\t%d\n", p.Topic, p.Partition, p.Offset)
			}
			return tw.Flush()
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&to, "to", "", "earliest, or an RFC 3339 time (the first record at or after it)")
	addTargetFlags(fs, &t)
	return cmd
}

func resetThroughAPI(ctx context.Context, t *target, name string, to messaging.ResetTo) (admin.ResetResult, error) {
	var res admin.ResetResult
	c, err := t.adminAPI(ctx)
	if err != nil {
		return res, err
	}
	err = c.do(ctx, http.MethodPost, admin.SubscriberPath(name, "/reset"), admin.ResetRequest{To: to.String()}, &res)
	switch statusOf(err) {
	case 0:
		return res, err
	case http.StatusNotFound:
		return res, c.unknownSubscriber(ctx, name)
	case http.StatusUnprocessableEntity:
		return res, usageError{err}
	}
	return res, fmt.Errorf("reset %s: %w", name, err)
}

// resetBare moves the group directly in Kafka, for a cluster without a
// platform API.
func resetBare(ctx context.Context, t *target, name string, to messaging.ResetTo) (admin.ResetResult, error) {
	res := admin.ResetResult{Name: name, To: to.String()}
	brokers, err := t.brokers(ctx)
	if err != nil {
		return res, err
	}
	cfg := messaging.NewSaramaConfig("troupe-cli")
	ca, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return res, fmt.Errorf("connect to Kafka at %v: %w", brokers, err)
	}
	groups, err := ca.ListConsumerGroups()
	_ = ca.Close()
	if err != nil {
		return res, fmt.Errorf("list consumer groups: %w", err)
	}
	if _, ok := groups[name]; !ok || internalGroup(name) {
		var known []string
		for g := range groups {
			if !internalGroup(g) {
				known = append(known, g)
			}
		}
		sort.Strings(known)
		return res, usageError{fmt.Errorf("unknown subscriber %q: no such consumer group (groups: %s)", name, strings.Join(known, ", "))}
	}
	if how, ok := positionInRedis[name]; ok {
		return res, fmt.Errorf("%s keeps its position in Redis, so moving its group alone would be undone at its next start; %s", name, how)
	}
	topics, err := messaging.GroupTopics(brokers, cfg, name)
	if err != nil {
		return res, err
	}
	if len(topics) == 0 {
		return res, fmt.Errorf("consumer group %s has committed no offsets: there is nothing to reset", name)
	}
	res.Partitions, err = messaging.ResetGroup(ctx, brokers, cfg, name, topics, to)
	return res, err
}

package main

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// customerIDRe is the design's identifier rule, which customer ids follow.
var customerIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// adminSubject is the subject of admin tokens, as `troupe up` issues them.
const adminSubject = "admin"

// newTokenCmd is `troupe token --customer ID | --admin`: a signed API
// token, alone on stdout, so that `$(troupe token --admin)` works.
func newTokenCmd() *cobra.Command {
	var (
		t        target
		customer string
		admin    bool
		ttl      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "token (--customer ID | --admin)",
		Short: "Print a signed API token (the token alone on stdout)",
		Long: "Signs an HS256 token for the platform's API: a customer's (sub = ID, role customer)\n" +
			"or an admin's. The secret is --jwt-secret, else the one `troupe up` generated into\n" +
			"the data dir.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hasCustomer := cmd.Flags().Changed("customer")
			switch {
			case hasCustomer && admin:
				return usageError{errors.New("give --customer ID or --admin, not both")}
			case !hasCustomer && !admin:
				return usageError{errors.New("give --customer ID or --admin")}
			case hasCustomer && !customerIDRe.MatchString(customer):
				return usageError{fmt.Errorf("--customer %q: a customer id must match [A-Za-z0-9_-]{1,64}", customer)}
			case ttl <= 0:
				return usageError{fmt.Errorf("--ttl %v: must be positive", ttl)}
			}
			auth, err := t.auth()
			if err != nil {
				return err
			}
			subject, role := customer, httpapi.RoleCustomer
			if admin {
				subject, role = adminSubject, httpapi.RoleAdmin
			}
			tok, err := auth.Issue(subject, role, ttl)
			if err != nil {
				return fmt.Errorf("sign token: %w", err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), tok)
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&customer, "customer", "", "a customer's token, for this customer id")
	fs.BoolVar(&admin, "admin", false, "an admin's token")
	fs.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid")
	envFlag(fs, &t.dataDir, "data-dir", "./data", "data dir of a running `troupe up` (its generated JWT secret)")
	envFlag(fs, &t.jwtSecret, "jwt-secret", "", "HS256 signing secret; default: the data dir's generated one")
	return cmd
}

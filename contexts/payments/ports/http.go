// Package ports holds payments' inbound adapters: the HTTP command
// endpoints and the subscriptions to other contexts' integration events.
package ports

import (
	"context"
	"errors"
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"

	"github.com/troupe-dev/troupe/contexts/payments/app"
	"github.com/troupe-dev/troupe/contexts/payments/domain/wallet"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// Depositor is the use case the deposit endpoint calls.
type Depositor interface {
	DepositFunds(ctx context.Context, cmd app.DepositFunds) (app.DepositResult, error)
}

// HTTPServer serves payments' command endpoints.
type HTTPServer struct {
	app  Depositor
	auth *httpapi.Auth
}

// NewHTTPServer returns the endpoints over a and auth.
func NewHTTPServer(a Depositor, auth *httpapi.Auth) *HTTPServer {
	return &HTTPServer{app: a, auth: auth}
}

// Register adds the endpoints to e, each behind bearer authentication.
func (s *HTTPServer) Register(e *echo.Echo) {
	e.POST("/api/customers/:customerId/wallet/deposits", s.deposit, s.auth.Authenticate(),
		httpapi.RequireRole(httpapi.RoleCustomer, httpapi.RoleAdmin))
}

var (
	idPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	keyPattern = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)
)

type depositRequest struct {
	AmountCents *int64 `json:"amountCents"`
}

type depositResponse struct {
	DepositID string `json:"depositId"`
}

// deposit: POST /api/customers/{customerId}/wallet/deposits, owner or admin,
// {amountCents} -> 202 {depositId} with Troupe-Consistency.
func (s *HTTPServer) deposit(c echo.Context) error {
	customerID := c.Param("customerId")
	p, _ := httpapi.PrincipalFrom(c)
	if !idPattern.MatchString(customerID) {
		return httpapi.InvalidField("customerId", "must match [A-Za-z0-9_-]{1,64}")
	}
	if !p.MayActFor(customerID) {
		return httpapi.Forbidden("only the wallet's owner or an admin may deposit")
	}
	var req depositRequest
	if err := httpapi.BindJSON(c, &req); err != nil {
		return err
	}
	if req.AmountCents == nil {
		return httpapi.InvalidField("amountCents", "is required")
	}
	if a := *req.AmountCents; a < wallet.MinDepositCents || a > wallet.MaxDepositCents {
		return httpapi.InvalidField("amountCents", "must be 1..10000000")
	}
	key := c.Request().Header.Get("Idempotency-Key")
	if key != "" && !keyPattern.MatchString(key) {
		return httpapi.InvalidField("Idempotency-Key", "must be 1..255 visible ASCII characters")
	}
	res, err := s.app.DepositFunds(c.Request().Context(), app.DepositFunds{
		CustomerID: customerID, AmountCents: *req.AmountCents, Subject: p.Subject, IdempotencyKey: key,
	})
	switch {
	case errors.Is(err, wallet.ErrIdempotencyKeyReused):
		return httpapi.InvalidField("Idempotency-Key", "was used before with a different request")
	case errors.Is(err, wallet.ErrInvalidAmount):
		return httpapi.InvalidField("amountCents", "must be 1..10000000")
	case err != nil:
		return err
	}
	httpapi.SetConsistency(c, httpapi.StreamRevision{Stream: res.Stream, Revision: res.Revision})
	return c.JSON(http.StatusAccepted, depositResponse{DepositID: res.DepositID})
}

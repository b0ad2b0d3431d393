// Package ports is the loyalty query API over HTTP (echo).
package ports

import (
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/subscribers/loyalty/points"
)

// customerID is the design's identifier shape.
var customerID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// HTTP serves GET /api/customers/{customerId}/loyalty. It is safe for
// concurrent use.
type HTTP struct {
	Model *points.Model
	Redis redis.UniversalClient
	Auth  *httpapi.Auth
}

// Register adds the route to e: a bearer token is required (401), and only
// the customer or an admin may read the account (403).
func (h *HTTP) Register(e *echo.Echo) {
	e.GET("/api/customers/:customerId/loyalty", h.account, h.Auth.Authenticate())
}

func (h *HTTP) account(c echo.Context) error {
	id := c.Param("customerId")
	if p, _ := httpapi.PrincipalFrom(c); !p.MayActFor(id) {
		return httpapi.Forbidden("only the customer or an admin may read this")
	}
	if !customerID.MatchString(id) {
		return httpapi.Invalid("invalid customer id", httpapi.FieldError{Field: "customerId", Message: "must match [A-Za-z0-9_-]{1,64}"})
	}
	a, err := h.Model.Account(c.Request().Context(), h.Redis, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}

// Package ports is the projections query API over HTTP (echo): the read
// endpoints of DESIGN.md with their auth rules, pagination, problem+json
// errors and Troupe-Consistency waits.
package ports

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/projections/model"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
)

// Limits of list queries.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// HTTP serves the queries. It is safe for concurrent use.
type HTTP struct {
	Model *model.Model
	Redis redis.UniversalClient
	Auth  *httpapi.Auth
	// ConsistencyTimeout bounds a Troupe-Consistency wait (DESIGN.md: 5 s).
	ConsistencyTimeout time.Duration
}

// Register adds the query routes to e.
func (h *HTTP) Register(e *echo.Echo) {
	e.GET("/api/products", h.products)
	e.GET("/api/products/:sku", h.product)
	authed := e.Group("/api", h.Auth.Authenticate())
	authed.GET("/orders/:orderId", h.order)
	authed.GET("/customers/:customerId/orders", h.customerOrders)
	authed.GET("/customers/:customerId/wallet", h.wallet)
	authed.GET("/stats/sales", h.stats, httpapi.RequireRole(httpapi.RoleAdmin))
}

// List is the answer of every list query.
type List[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"nextCursor"`
}

func listOf[T any](p model.Page[T]) List[T] {
	l := List[T]{Items: p.Items}
	if p.NextCursor != "" {
		l.NextCursor = &p.NextCursor
	}
	return l
}

// consistent waits for the request's Troupe-Consistency token, if any.
func (h *HTTP) consistent(c echo.Context) error {
	token := c.Request().Header.Get(httpapi.HeaderConsistency)
	if token == "" {
		return nil
	}
	items, err := httpapi.ParseConsistency(token)
	if err != nil {
		return httpapi.BadRequest(httpapi.HeaderConsistency + ": " + err.Error())
	}
	want := make([]readmodel.Want, len(items))
	for i, it := range items {
		if !model.Projects(it.Stream) {
			return httpapi.BadRequest(httpapi.HeaderConsistency + ": this read model does not project stream " + it.Stream)
		}
		want[i] = readmodel.Want{Stream: it.Stream, Revision: it.Revision}
	}
	err = h.Model.Namespace().WaitApplied(c.Request().Context(), h.Redis, want, h.ConsistencyTimeout, 0)
	if errors.Is(err, readmodel.ErrNotReached) || errors.Is(err, readmodel.ErrNoModel) {
		return httpapi.Unavailable(err.Error(), 1)
	}
	return err
}

// mapErr maps model errors to problems, in this one place.
func mapErr(err error) error {
	switch {
	case errors.Is(err, model.ErrNotFound):
		return httpapi.NotFound(err.Error())
	case errors.Is(err, model.ErrBadCursor):
		return httpapi.BadRequest("cursor: not a cursor this API issued")
	case errors.Is(err, readmodel.ErrNoModel):
		return httpapi.Unavailable("the read model is being built", 1)
	}
	return err
}

func limit(c echo.Context) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, httpapi.BadRequest("limit: must be an integer", httpapi.FieldError{Field: "limit", Message: "must be an integer"})
	}
	if n < 1 || n > MaxLimit {
		return 0, httpapi.Invalid("limit out of range", httpapi.FieldError{Field: "limit", Message: "must be 1..100"})
	}
	return n, nil
}

func (h *HTTP) products(c echo.Context) error {
	n, err := limit(c)
	if err != nil {
		return err
	}
	if err := h.consistent(c); err != nil {
		return err
	}
	p, err := h.Model.Products(c.Request().Context(), h.Redis, c.QueryParam("cursor"), n)
	if err != nil {
		return mapErr(err)
	}
	return c.JSON(http.StatusOK, listOf(p))
}

func (h *HTTP) product(c echo.Context) error {
	if err := h.consistent(c); err != nil {
		return err
	}
	p, err := h.Model.Product(c.Request().Context(), h.Redis, c.Param("sku"))
	if err != nil {
		return mapErr(err)
	}
	return c.JSON(http.StatusOK, p)
}

func (h *HTTP) order(c echo.Context) error {
	if err := h.consistent(c); err != nil {
		return err
	}
	o, err := h.Model.Order(c.Request().Context(), h.Redis, c.Param("orderId"))
	if err != nil {
		return mapErr(err)
	}
	if p, _ := httpapi.PrincipalFrom(c); !p.MayActFor(o.CustomerID) {
		return httpapi.Forbidden("this order belongs to another customer")
	}
	return c.JSON(http.StatusOK, o)
}

func (h *HTTP) owner(c echo.Context) (string, error) {
	id := c.Param("customerId")
	if p, _ := httpapi.PrincipalFrom(c); !p.MayActFor(id) {
		return "", httpapi.Forbidden("only the customer or an admin may read this")
	}
	return id, nil
}

func (h *HTTP) customerOrders(c echo.Context) error {
	id, err := h.owner(c)
	if err != nil {
		return err
	}
	n, err := limit(c)
	if err != nil {
		return err
	}
	status := c.QueryParam("status")
	if status != "" && !model.ValidStatus(status) {
		return httpapi.Invalid("unknown status", httpapi.FieldError{Field: "status", Message: "must be PENDING, RESERVED, CONFIRMED or CANCELLED"})
	}
	if err := h.consistent(c); err != nil {
		return err
	}
	p, err := h.Model.CustomerOrders(c.Request().Context(), h.Redis, id, status, c.QueryParam("cursor"), n)
	if err != nil {
		return mapErr(err)
	}
	return c.JSON(http.StatusOK, listOf(p))
}

func (h *HTTP) wallet(c echo.Context) error {
	id, err := h.owner(c)
	if err != nil {
		return err
	}
	n, err := limit(c)
	if err != nil {
		return err
	}
	if err := h.consistent(c); err != nil {
		return err
	}
	w, err := h.Model.Wallet(c.Request().Context(), h.Redis, id, c.QueryParam("cursor"), n)
	if errors.Is(err, model.ErrNotFound) {
		// A wallet that never moved is empty, not missing.
		w, err = model.Wallet{CustomerID: id, Transactions: []model.Transaction{}}, nil
	}
	if err != nil {
		return mapErr(err)
	}
	return c.JSON(http.StatusOK, w)
}

func (h *HTTP) stats(c echo.Context) error {
	if err := h.consistent(c); err != nil {
		return err
	}
	s, err := h.Model.Stats(c.Request().Context(), h.Redis)
	if err != nil {
		return mapErr(err)
	}
	return c.JSON(http.StatusOK, s)
}

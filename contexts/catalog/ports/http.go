// Package ports drives the catalog's application from outside: the admin
// HTTP endpoints, the Kafka handlers of ordering's events, and the
// event-store subscription that resumes interrupted reservations.
package ports

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/troupe-dev/troupe/contexts/catalog/app"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// HTTPServer serves the catalog's admin commands. Safe for concurrent use.
type HTTPServer struct {
	app  *app.Application
	auth *httpapi.Auth
}

// NewHTTPServer returns the handlers of a over auth's tokens.
func NewHTTPServer(a *app.Application, auth *httpapi.Auth) *HTTPServer {
	return &HTTPServer{app: a, auth: auth}
}

// Register adds the routes, all admin only, to e:
// POST /api/catalog/products (201), PUT /api/catalog/products/{sku}/price
// (202) and POST /api/catalog/products/{sku}/stock (202). Each answers
// with Troupe-Consistency naming the product stream and revision it wrote.
func (h *HTTPServer) Register(e *echo.Echo) {
	g := e.Group("/api/catalog/products", h.auth.Authenticate(), httpapi.RequireRole(httpapi.RoleAdmin))
	g.POST("", h.listProduct)
	g.PUT("/:sku/price", h.repriceProduct)
	g.POST("/:sku/stock", h.receiveStock)
}

type listProductRequest struct {
	SKU        *string `json:"sku"`
	Name       *string `json:"name"`
	PriceCents *int64  `json:"priceCents"`
}

type productResponse struct {
	SKU        string `json:"sku"`
	Name       string `json:"name,omitempty"`
	PriceCents int64  `json:"priceCents,omitempty"`
	Currency   string `json:"currency,omitempty"`
	Quantity   int64  `json:"quantity,omitempty"`
}

func (h *HTTPServer) listProduct(c echo.Context) error {
	var req listProductRequest
	if err := httpapi.BindJSON(c, &req); err != nil {
		return err
	}
	switch {
	case req.SKU == nil:
		return httpapi.InvalidField("sku", "is required")
	case req.Name == nil:
		return httpapi.InvalidField("name", "is required")
	case req.PriceCents == nil:
		return httpapi.InvalidField("priceCents", "is required")
	}
	res, err := h.app.ListProduct(c.Request().Context(), app.ListProduct{SKU: *req.SKU, Name: *req.Name, PriceCents: *req.PriceCents})
	if err != nil {
		return problem(err)
	}
	setConsistency(c, res)
	c.Response().Header().Set(echo.HeaderLocation, "/api/products/"+*req.SKU)
	return c.JSON(http.StatusCreated, productResponse{SKU: *req.SKU, Name: *req.Name, PriceCents: *req.PriceCents})
}

type repriceRequest struct {
	PriceCents *int64 `json:"priceCents"`
}

func (h *HTTPServer) repriceProduct(c echo.Context) error {
	var req repriceRequest
	if err := httpapi.BindJSON(c, &req); err != nil {
		return err
	}
	if req.PriceCents == nil {
		return httpapi.InvalidField("priceCents", "is required")
	}
	sku := c.Param("sku")
	res, err := h.app.RepriceProduct(c.Request().Context(), app.RepriceProduct{SKU: sku, PriceCents: *req.PriceCents})
	if err != nil {
		return problem(err)
	}
	setConsistency(c, res)
	return c.JSON(http.StatusAccepted, productResponse{SKU: sku, PriceCents: *req.PriceCents})
}

type receiveStockRequest struct {
	Quantity *int64 `json:"quantity"`
}

func (h *HTTPServer) receiveStock(c echo.Context) error {
	var req receiveStockRequest
	if err := httpapi.BindJSON(c, &req); err != nil {
		return err
	}
	if req.Quantity == nil {
		return httpapi.InvalidField("quantity", "is required")
	}
	sku := c.Param("sku")
	res, err := h.app.ReceiveStock(c.Request().Context(), app.ReceiveStock{SKU: sku, Quantity: *req.Quantity})
	if err != nil {
		return problem(err)
	}
	setConsistency(c, res)
	return c.JSON(http.StatusAccepted, productResponse{SKU: sku, Quantity: *req.Quantity})
}

func setConsistency(c echo.Context, res eventstore.Result) {
	httpapi.SetConsistency(c, httpapi.StreamRevision{Stream: res.Stream, Revision: res.Revision})
}

// problem maps the catalog's errors to the HTTP chassis' slugs, once.
func problem(err error) error {
	switch {
	case errors.Is(err, product.ErrInvalidSKU):
		return httpapi.InvalidField("sku", "must match [A-Z0-9-]{3,32}")
	case errors.Is(err, product.ErrInvalidName):
		return httpapi.InvalidField("name", fmt.Sprintf("must be 1..%d characters, not blank", product.MaxNameLength))
	case errors.Is(err, product.ErrInvalidPrice):
		return httpapi.InvalidField("priceCents", fmt.Sprintf("must be 1..%d", product.MaxPriceCents))
	case errors.Is(err, product.ErrInvalidQuantity):
		return httpapi.InvalidField("quantity", fmt.Sprintf("must be 1..%d", product.MaxReceivedQuantity))
	case errors.Is(err, product.ErrAlreadyListed):
		return fmt.Errorf("%w: the sku is already listed", httpapi.ErrConflict)
	case errors.Is(err, product.ErrNotListed):
		return fmt.Errorf("%w: no such product", httpapi.ErrNotFound)
	case errors.Is(err, eventstore.ErrConflict):
		return httpapi.Unavailable("the product is busy; retry", 1)
	}
	return err
}

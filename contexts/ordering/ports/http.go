// Package ports exposes the ordering context: its HTTP command endpoints,
// its Kafka subscriptions to catalog's and payments' events, and the feed
// of order streams that keeps the deadlines.
package ports

import (
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/troupe-dev/troupe/contexts/ordering/app"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// HeaderIdempotencyKey is the optional header that makes POST /api/orders
// repeatable.
const HeaderIdempotencyKey = "Idempotency-Key"

// HTTPServer serves ordering's command endpoints.
type HTTPServer struct {
	app  *app.App
	auth *httpapi.Auth
}

// NewHTTPServer returns the HTTP port of a.
func NewHTTPServer(a *app.App, auth *httpapi.Auth) *HTTPServer {
	return &HTTPServer{app: a, auth: auth}
}

// Register adds the routes to e: POST /api/orders (role customer) and
// POST /api/orders/:orderId/cancel (the order's owner). Middleware is per
// route, so other contexts can register on the same echo.
func (h *HTTPServer) Register(e *echo.Echo) {
	authn := h.auth.Authenticate()
	e.POST("/api/orders", h.placeOrder, authn, httpapi.RequireRole(httpapi.RoleCustomer))
	e.POST("/api/orders/:orderId/cancel", h.cancelOrder, authn)
}

type placeOrderRequest struct {
	Lines []struct {
		SKU      string `json:"sku"`
		Quantity int    `json:"quantity"`
	} `json:"lines"`
	PaymentMethod string `json:"paymentMethod"`
	// ShippingAddress is optional; see events.ShippingAddress for its shape.
	ShippingAddress *struct {
		Recipient  string `json:"recipient"`
		Line1      string `json:"line1"`
		Line2      string `json:"line2"`
		City       string `json:"city"`
		PostalCode string `json:"postalCode"`
		Country    string `json:"country"`
	} `json:"shippingAddress"`
}

type placeOrderResponse struct {
	OrderID string `json:"orderId"`
}

func (h *HTTPServer) placeOrder(c echo.Context) error {
	p, _ := httpapi.PrincipalFrom(c)
	var req placeOrderRequest
	if err := httpapi.BindJSON(c, &req); err != nil {
		return err
	}
	cmd := app.PlaceOrder{
		CustomerID:     p.Subject,
		PaymentMethod:  req.PaymentMethod,
		IdempotencyKey: c.Request().Header.Get(HeaderIdempotencyKey),
		Lines:          make([]app.LineRequest, len(req.Lines)),
	}
	for i, l := range req.Lines {
		cmd.Lines[i] = app.LineRequest{SKU: l.SKU, Quantity: l.Quantity}
	}
	if a := req.ShippingAddress; a != nil {
		cmd.ShippingAddress = &app.AddressRequest{Recipient: a.Recipient, Line1: a.Line1, Line2: a.Line2,
			City: a.City, PostalCode: a.PostalCode, Country: a.Country}
	}
	res, err := h.app.PlaceOrder(c.Request().Context(), cmd)
	if err != nil {
		return problem(err)
	}
	httpapi.SetConsistency(c, httpapi.StreamRevision{Stream: res.Written.Stream, Revision: res.Written.Revision})
	c.Response().Header().Set(echo.HeaderLocation, "/api/orders/"+res.OrderID)
	return c.JSON(http.StatusAccepted, placeOrderResponse{OrderID: res.OrderID})
}

func (h *HTTPServer) cancelOrder(c echo.Context) error {
	p, _ := httpapi.PrincipalFrom(c)
	orderID := c.Param("orderId")
	if _, err := uuid.Parse(orderID); err != nil || len(orderID) != 36 {
		return httpapi.NotFound("no order " + orderID)
	}
	w, err := h.app.CancelOrder(c.Request().Context(), app.CancelOrder{OrderID: orderID, CustomerID: p.Subject})
	if err != nil {
		return problem(err)
	}
	httpapi.SetConsistency(c, httpapi.StreamRevision{Stream: w.Stream, Revision: w.Revision})
	return c.NoContent(http.StatusAccepted)
}

// problem maps the app's errors to HTTP, in this one place.
func problem(err error) error {
	var verr *app.ValidationError
	switch {
	case errors.As(err, &verr):
		fields := make([]httpapi.FieldError, len(verr.Fields))
		for i, f := range verr.Fields {
			fields[i] = httpapi.FieldError{Field: f.Field, Message: f.Message}
		}
		return httpapi.Invalid("the request is invalid", fields...)
	case errors.Is(err, app.ErrNotFound):
		return httpapi.NotFound(err.Error())
	case errors.Is(err, app.ErrForbidden):
		return httpapi.Forbidden("the order belongs to another customer")
	case errors.Is(err, app.ErrConflict):
		return httpapi.Conflict(err.Error())
	}
	return err
}

package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/troupe-dev/troupe/shared/platform/readmodel"
)

// MaxBodyBytes is the largest request body accepted (larger: 413).
const MaxBodyBytes = 64 << 10

// Config configures New.
type Config struct {
	// Logger receives 5xx errors; default slog.Default().
	Logger *slog.Logger
	// Ready reports whether the service is ready (its subscriptions run);
	// nil means always ready. /readyz answers 503 with its error.
	Ready func(ctx context.Context) error
	// ReadModels, when set, reports the lag of the read models this
	// process feeds (readmodel.Monitor.Statuses); /readyz shows it under
	// "readModels", ready or not. Lag does not decide readiness: a lagging
	// model stays ready, flagged "lagging".
	ReadModels func(ctx context.Context) map[string]readmodel.Status
}

// Readiness is the body of a 200 /readyz.
type Readiness struct {
	Status     string                      `json:"status"`
	ReadModels map[string]readmodel.Status `json:"readModels,omitempty"`
}

// New returns an echo instance with Troupe's error handling, the 64 KiB body
// limit, panic recovery, and /healthz and /readyz.
func New(cfg Config) *echo.Echo {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(cfg.Logger)
	e.Use(middleware.Recover())
	// "KiB": echo reads a bare "K" as 1000 bytes, which would cut the
	// limit to 64,000.
	e.Use(middleware.BodyLimit(strconv.Itoa(MaxBodyBytes/1024) + "KiB"))
	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", func(c echo.Context) error {
		ctx := c.Request().Context()
		var models map[string]readmodel.Status
		if cfg.ReadModels != nil {
			models = cfg.ReadModels(ctx)
		}
		if cfg.Ready != nil {
			if err := cfg.Ready(ctx); err != nil {
				p := Unavailable("not ready: "+err.Error(), 1)
				p.ReadModels = models
				return p
			}
		}
		return c.JSON(http.StatusOK, Readiness{Status: "ready", ReadModels: models})
	})
	return e
}

// errorHandler writes every error as problem+json, mapping domain errors in
// this one place.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		var p *Problem
		var he *echo.HTTPError
		if errors.As(err, &he) && !errors.As(err, &p) {
			detail, _ := he.Message.(string)
			p = newProblem(he.Code, strings.ToLower(strings.ReplaceAll(http.StatusText(he.Code), " ", "-")), detail)
		} else {
			p = ProblemFrom(err)
		}
		if p.Status >= 500 && p.Status != http.StatusServiceUnavailable {
			log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
		}
		if p.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
		}
		c.Response().Header().Set(echo.HeaderContentType, ContentTypeProblem)
		c.Response().WriteHeader(p.Status)
		if c.Request().Method != http.MethodHead {
			_ = json.NewEncoder(c.Response()).Encode(p)
		}
	}
}

// BindJSON decodes the request body into v. Malformed JSON and fields of
// the wrong type are a 400 naming the field; an empty body is a 400; a body
// over the limit is a 413. Unknown fields are ignored.
func BindJSON(c echo.Context, v any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he
		}
		return BadRequest("cannot read the body: " + err.Error())
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return BadRequest("the body is empty; a JSON object is expected")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "(body)"
			}
			return BadRequest("a field has the wrong type",
				FieldError{Field: field, Message: "must be " + jsonKind(te.Type.Kind().String())})
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return BadRequest("malformed JSON at byte " + strconv.FormatInt(se.Offset, 10))
		}
		return BadRequest("malformed JSON: " + err.Error())
	}
	return nil
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"), strings.HasPrefix(goKind, "float"):
		return "a number"
	case goKind == "string":
		return "a string"
	case goKind == "bool":
		return "a boolean"
	case goKind == "slice", goKind == "array":
		return "an array"
	}
	return "an object"
}

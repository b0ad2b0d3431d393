// Package httpapi is the HTTP chassis every Troupe service shares: echo
// setup, problem+json errors (RFC 9457), bearer-JWT authentication and
// roles, request size limits, the Troupe-Consistency header, and health.
package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/troupe-dev/troupe/shared/platform/readmodel"
)

// ContentTypeProblem is the media type of every error body.
const ContentTypeProblem = "application/problem+json"

// FieldError names one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem detail; it is also an error, so handlers
// return it and the error handler writes it.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
	// ReadModels is the lag extension member of a 503 /readyz.
	ReadModels map[string]readmodel.Status `json:"readModels,omitempty"`
	// RetryAfter, in seconds, is sent as the Retry-After header when set.
	RetryAfter int `json:"-"`
}

func (p *Problem) Error() string {
	if p.Detail != "" {
		return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
	}
	return fmt.Sprintf("%d %s", p.Status, p.Title)
}

func newProblem(status int, slug, detail string, errs ...FieldError) *Problem {
	return &Problem{Type: "https://troupe.dev/problems/" + slug, Title: http.StatusText(status), Status: status,
		Detail: detail, Errors: errs}
}

// BadRequest is a 400: malformed JSON or a field of the wrong type.
func BadRequest(detail string, errs ...FieldError) *Problem {
	return newProblem(http.StatusBadRequest, "bad-request", detail, errs...)
}

// Invalid is a 422: well-formed input that breaks a rule, naming the fields.
func Invalid(detail string, errs ...FieldError) *Problem {
	return newProblem(http.StatusUnprocessableEntity, "invalid-input", detail, errs...)
}

// Unauthorized is a 401: no valid token.
func Unauthorized(detail string) *Problem {
	return newProblem(http.StatusUnauthorized, "unauthorized", detail)
}

// Forbidden is a 403: the wrong role or someone else's resource.
func Forbidden(detail string) *Problem { return newProblem(http.StatusForbidden, "forbidden", detail) }

// NotFound is a 404.
func NotFound(detail string) *Problem { return newProblem(http.StatusNotFound, "not-found", detail) }

// Conflict is a 409: the request is valid but the resource's state forbids it.
func Conflict(detail string) *Problem { return newProblem(http.StatusConflict, "conflict", detail) }

// Unavailable is a 503 with Retry-After.
func Unavailable(detail string, retryAfterSeconds int) *Problem {
	p := newProblem(http.StatusServiceUnavailable, "unavailable", detail)
	p.RetryAfter = retryAfterSeconds
	return p
}

// Slugged errors let the app layer say what kind of failure it is without
// knowing HTTP; ErrorHandler maps them once.
var (
	// ErrInvalid marks invalid input (422).
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound marks a missing resource (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict marks a state conflict (409).
	ErrConflict = errors.New("conflict")
	// ErrForbidden marks an authorization failure (403).
	ErrForbidden = errors.New("forbidden")
)

// InvalidField returns an error wrapping ErrInvalid that names field; the
// error handler turns it into a 422 with that field.
func InvalidField(field, message string) error {
	return &fieldErr{FieldError{Field: field, Message: message}}
}

type fieldErr struct{ fe FieldError }

func (e *fieldErr) Error() string { return e.fe.Field + ": " + e.fe.Message }
func (e *fieldErr) Unwrap() error { return ErrInvalid }

// ProblemFrom maps any error to a Problem: a *Problem as it is, the slugged
// errors to their status, anything else to a 500 that hides the details.
func ProblemFrom(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var fe *fieldErr
	switch {
	case errors.As(err, &fe):
		return Invalid("the request is invalid", fe.fe)
	case errors.Is(err, ErrInvalid):
		return Invalid(err.Error())
	case errors.Is(err, ErrNotFound):
		return NotFound(err.Error())
	case errors.Is(err, ErrConflict):
		return Conflict(err.Error())
	case errors.Is(err, ErrForbidden):
		return Forbidden(err.Error())
	}
	return newProblem(http.StatusInternalServerError, "internal", "")
}

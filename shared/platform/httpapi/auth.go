package httpapi

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
)

// Token claims and roles (DESIGN.md, "HTTP API").
const (
	Issuer       = "troupe"
	Audience     = "troupe-api"
	RoleCustomer = "customer"
	RoleAdmin    = "admin"
)

// Principal is the authenticated caller.
type Principal struct {
	// Subject is the customer id (for an admin, whatever the token says).
	Subject string
	Role    string
}

// IsAdmin reports the admin role.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// MayActFor reports whether p may read or act on customerID's resources:
// the owner or an admin.
func (p Principal) MayActFor(customerID string) bool { return p.IsAdmin() || p.Subject == customerID }

// Auth issues and verifies Troupe's HS256 bearer tokens. It is safe for
// concurrent use.
//
// A token that verified is remembered until its expiry (up to
// maxCachedTokens of them), so a client repeating its token is not
// re-verified on every request: HS256 verification is most of the chassis'
// cost of a cheap query. A remembered token is the identical string whose
// signature and claims already passed, and it is still refused once
// expired.
type Auth struct {
	secret []byte
	cache  sync.Map // token -> cachedToken
	cached atomic.Int64
}

// maxCachedTokens bounds the verified-token cache; when full it is emptied
// (simple, and a busy deployment refills it with the tokens in use).
const maxCachedTokens = 10_000

type cachedToken struct {
	p   Principal
	exp time.Time
}

type claims struct {
	Role string `json:"role"`
	jwt.RegisteredClaims
}

// NewAuth returns an Auth for secret, which must be at least 32 bytes.
func NewAuth(secret []byte) (*Auth, error) {
	if len(secret) < 32 {
		return nil, errors.New("jwt secret: at least 32 bytes are needed")
	}
	return &Auth{secret: append([]byte(nil), secret...)}, nil
}

// Issue signs a token for subject with role, valid for ttl.
func (a *Auth) Issue(subject, role string, ttl time.Duration) (string, error) {
	if role != RoleCustomer && role != RoleAdmin {
		return "", fmt.Errorf("role %q: want %q or %q", role, RoleCustomer, RoleAdmin)
	}
	now := time.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{Role: role, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: Issuer, Audience: jwt.ClaimStrings{Audience}, Subject: subject,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}})
	return t.SignedString(a.secret)
}

// Verify checks a token (HS256 only, issuer, audience, expiry, a subject
// and a known role) and returns its principal.
func (a *Auth) Verify(token string) (Principal, error) {
	if v, ok := a.cache.Load(token); ok {
		if c := v.(cachedToken); time.Now().Before(c.exp) {
			return c.p, nil
		}
		a.cache.Delete(token)
	}
	p, exp, err := a.verify(token)
	if err != nil {
		return Principal{}, err
	}
	if a.cached.Add(1) > maxCachedTokens {
		a.cache.Clear()
		a.cached.Store(1)
	}
	a.cache.Store(token, cachedToken{p: p, exp: exp})
	return p, nil
}

// verify checks a token fully and returns its principal and expiry.
func (a *Auth) verify(token string) (Principal, time.Time, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuer(Issuer),
		jwt.WithAudience(Audience), jwt.WithExpirationRequired())
	if err != nil {
		return Principal{}, time.Time{}, err
	}
	if c.Subject == "" || (c.Role != RoleCustomer && c.Role != RoleAdmin) {
		return Principal{}, time.Time{}, errors.New("token lacks a subject or a known role")
	}
	return Principal{Subject: c.Subject, Role: c.Role}, c.ExpiresAt.Time, nil
}

const principalKey = "troupe.principal"

// Authenticate is middleware that requires a valid bearer token (401
// otherwise) and stores the principal for PrincipalFrom.
func (a *Auth) Authenticate() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Request().Header.Get(echo.HeaderAuthorization)
			token, ok := strings.CutPrefix(h, "Bearer ")
			if !ok || token == "" {
				return Unauthorized("a bearer token is required")
			}
			p, err := a.Verify(token)
			if err != nil {
				return Unauthorized("invalid token: " + err.Error())
			}
			c.Set(principalKey, p)
			return next(c)
		}
	}
}

// PrincipalFrom returns the caller stored by Authenticate.
func PrincipalFrom(c echo.Context) (Principal, bool) {
	p, ok := c.Get(principalKey).(Principal)
	return p, ok
}

// RequireRole is middleware (after Authenticate) that answers 403 unless
// the caller has one of roles.
func RequireRole(roles ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, ok := PrincipalFrom(c)
			if !ok {
				return Unauthorized("a bearer token is required")
			}
			for _, r := range roles {
				if p.Role == r {
					return next(c)
				}
			}
			return Forbidden("this needs the role " + strings.Join(roles, " or "))
		}
	}
}

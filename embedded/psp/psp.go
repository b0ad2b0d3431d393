// Package psp is an in-process card payment gateway (payment service
// provider) simulator serving the external gateway API of Troupe's design:
//
//	POST /payments {amountCents, currency, reference}, Idempotency-Key -> 201 {id, status}
//	GET  /payments/{idempotencyKey}                                    -> 200 {id, status} or 404
//	POST /refunds  {paymentId, amountCents}, Idempotency-Key           -> 201 {id, paymentId, amountCents}
//	PUT  /_sim     {latencyMs, declineRate, down}                      -> 200, the settings now
//	GET  /_sim                                                         -> 200, the settings now
//
// It is what `troupe up` uses when no TROUPE_PSP_URL is given, and what
// tests use to make the gateway slow, declining or down at runtime. All
// state is in memory; every handler is safe for concurrent use.
package psp

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Payment statuses.
const (
	StatusCaptured = "captured"
	StatusDeclined = "declined"
)

// Config configures Start.
type Config struct {
	// Addr is the listen address; default "127.0.0.1:0" (a free port).
	Addr string
	// Settings are the initial simulation settings (default: no latency,
	// no declines, up).
	Settings Settings
}

// Settings are the simulation controls, changed at runtime with PUT /_sim.
type Settings struct {
	// LatencyMs delays the answer to every POST by this many milliseconds.
	// The request is processed (and remembered) before the wait, as a real
	// gateway that answers late, so a client that timed out finds the
	// result with GET /payments/{key}. Status queries are not delayed.
	LatencyMs int `json:"latencyMs"`
	// DeclineRate is the probability (0..1) that a new payment is declined.
	DeclineRate float64 `json:"declineRate"`
	// Down makes every API request fail with 503 without processing it.
	Down bool `json:"down"`
}

// Validate reports settings out of range.
func (s Settings) Validate() error {
	switch {
	case s.LatencyMs < 0 || s.LatencyMs > 60_000:
		return errors.New("latencyMs must be 0..60000")
	case s.DeclineRate < 0 || s.DeclineRate > 1:
		return errors.New("declineRate must be 0..1")
	}
	return nil
}

// PaymentResult is the answer to POST /payments and GET /payments/{key}.
type PaymentResult struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// RefundResult is the answer to POST /refunds.
type RefundResult struct {
	ID          string `json:"id"`
	PaymentID   string `json:"paymentId"`
	AmountCents int64  `json:"amountCents"`
}

type paymentRecord struct {
	result      PaymentResult
	amountCents int64
	fingerprint string
	refunded    int64
}

type refundRecord struct {
	result      RefundResult
	fingerprint string
}

// Server is a running simulator. Its methods are safe for concurrent use.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}

	mu       sync.Mutex
	settings Settings
	byKey    map[string]*paymentRecord
	byID     map[string]*paymentRecord
	refunds  map[string]*refundRecord
	calls    map[string]int
}

// Start listens on cfg.Addr and serves until Close or ctx ends.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if err := cfg.Settings.Validate(); err != nil {
		return nil, fmt.Errorf("psp: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("psp: listen on %s (change the address to a free one): %w", cfg.Addr, err)
	}
	s := &Server{
		ln: ln, done: make(chan struct{}), settings: cfg.Settings,
		byKey: map[string]*paymentRecord{}, byID: map[string]*paymentRecord{},
		refunds: map[string]*refundRecord{}, calls: map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /payments", s.createPayment)
	mux.HandleFunc("GET /payments/{key}", s.getPayment)
	mux.HandleFunc("POST /refunds", s.createRefund)
	mux.HandleFunc("PUT /_sim", s.putSettings)
	mux.HandleFunc("GET /_sim", s.getSettings)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

// URL returns the base URL, e.g. "http://127.0.0.1:41234".
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server; it is safe to call more than once.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Settings returns the current simulation settings.
func (s *Server) Settings() Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settings
}

// SetSettings changes the simulation settings, as PUT /_sim does.
func (s *Server) SetSettings(st Settings) error {
	if err := st.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.settings = st
	s.mu.Unlock()
	return nil
}

// Calls returns how many requests reached the API route (e.g.
// "POST /payments"), outages included: what tests use to see a circuit
// breaker hold calls back.
func (s *Server) Calls(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[route]
}

// Payments returns how many distinct payments (idempotency keys) were
// processed, and how many of them were captured.
func (s *Server) Payments() (total, captured int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.byKey {
		total++
		if p.result.Status == StatusCaptured {
			captured++
		}
	}
	return total, captured
}

// Refunds returns how many distinct refunds were made.
func (s *Server) Refunds() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.refunds)
}

// enter counts the call and reports the settings, or answers 503 when the
// gateway is down.
func (s *Server) enter(w http.ResponseWriter, route string) (Settings, bool) {
	s.mu.Lock()
	s.calls[route]++
	st := s.settings
	s.mu.Unlock()
	if st.Down {
		writeError(w, http.StatusServiceUnavailable, "gateway is down")
		return st, false
	}
	return st, true
}

type paymentRequest struct {
	AmountCents int64  `json:"amountCents"`
	Currency    string `json:"currency"`
	Reference   string `json:"reference"`
}

func (s *Server) createPayment(w http.ResponseWriter, r *http.Request) {
	st, ok := s.enter(w, "POST /payments")
	if !ok {
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		writeError(w, http.StatusBadRequest, "the Idempotency-Key header is required")
		return
	}
	var req paymentRequest
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.AmountCents < 0 || len(req.Currency) != 3 {
		writeError(w, http.StatusUnprocessableEntity, "amountCents must be 0 or more and currency a 3-letter code")
		return
	}
	fp := fmt.Sprintf("%d|%s|%s", req.AmountCents, req.Currency, req.Reference)
	s.mu.Lock()
	rec, seen := s.byKey[key]
	if !seen {
		status := StatusCaptured
		if st.DeclineRate > 0 && rand.Float64() < st.DeclineRate {
			status = StatusDeclined
		}
		rec = &paymentRecord{result: PaymentResult{ID: "psp_" + newID(), Status: status},
			amountCents: req.AmountCents, fingerprint: fp}
		s.byKey[key], s.byID[rec.result.ID] = rec, rec
	}
	result, same := rec.result, rec.fingerprint == fp
	s.mu.Unlock()
	if !same {
		writeError(w, http.StatusUnprocessableEntity, "the Idempotency-Key was used with another request")
		return
	}
	delay(r.Context(), st.LatencyMs)
	writeJSON(w, http.StatusCreated, result)
}

func (s *Server) getPayment(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.enter(w, "GET /payments"); !ok {
		return
	}
	s.mu.Lock()
	rec, found := s.byKey[r.PathValue("key")]
	var result PaymentResult
	if found {
		result = rec.result
	}
	s.mu.Unlock()
	if !found {
		writeError(w, http.StatusNotFound, "no payment with this idempotency key")
		return
	}
	writeJSON(w, http.StatusOK, result)
}

type refundRequest struct {
	PaymentID   string `json:"paymentId"`
	AmountCents int64  `json:"amountCents"`
}

func (s *Server) createRefund(w http.ResponseWriter, r *http.Request) {
	st, ok := s.enter(w, "POST /refunds")
	if !ok {
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		writeError(w, http.StatusBadRequest, "the Idempotency-Key header is required")
		return
	}
	var req refundRequest
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	fp := fmt.Sprintf("%s|%d", req.PaymentID, req.AmountCents)
	s.mu.Lock()
	rec, seen := s.refunds[key]
	if !seen {
		p, found := s.byID[req.PaymentID]
		switch {
		case !found:
			s.mu.Unlock()
			writeError(w, http.StatusNotFound, "no payment "+req.PaymentID)
			return
		case p.result.Status != StatusCaptured || req.AmountCents <= 0 || p.refunded+req.AmountCents > p.amountCents:
			s.mu.Unlock()
			writeError(w, http.StatusUnprocessableEntity, "the payment is not captured or the amount exceeds what is left to refund")
			return
		}
		p.refunded += req.AmountCents
		rec = &refundRecord{result: RefundResult{ID: "rf_" + newID(), PaymentID: req.PaymentID, AmountCents: req.AmountCents}, fingerprint: fp}
		s.refunds[key] = rec
	}
	result, same := rec.result, rec.fingerprint == fp
	s.mu.Unlock()
	if !same {
		writeError(w, http.StatusUnprocessableEntity, "the Idempotency-Key was used with another request")
		return
	}
	delay(r.Context(), st.LatencyMs)
	writeJSON(w, http.StatusCreated, result)
}

func (s *Server) putSettings(w http.ResponseWriter, r *http.Request) {
	var st Settings
	if err := decode(r, &st); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.SetSettings(st); err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) getSettings(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Settings())
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON body: %w", err)
	}
	return nil
}

func delay(ctx context.Context, ms int) {
	if ms <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": strings.TrimSpace(msg)})
}

func newID() string {
	var b [12]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

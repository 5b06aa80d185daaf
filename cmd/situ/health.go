package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"situ/api"
)

// healthHTTP is the HTTP surface of a learner- or broker-role process:
// health, readiness and metrics, no scoring.
type healthHTTP struct {
	srv *http.Server
}

// healthServer serves /healthz, /readyz and /metrics for a process of the
// given role that does not score.
func healthServer(role string, gatherer prometheus.Gatherer, ready func(context.Context) error, log *zap.Logger) *healthHTTP {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET "+api.RouteHealth, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "role": role})
	})
	mux.HandleFunc("GET "+api.RouteReady, func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), api.DefaultReadyTimeout)
		defer cancel()
		if err := ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{"code": api.CodeNotReady, "message": err.Error()}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "role": role})
	})
	mux.Handle("GET "+api.RouteMetrics, promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]string{"code": api.CodeNotFound,
			"message": "this process runs the " + role + " role: it serves /healthz, /readyz and /metrics; score on an api or all replica"}})
	})
	return &healthHTTP{srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: api.DefaultReadHeaderTimeout,
		ReadTimeout:       api.DefaultReadTimeout,
		WriteTimeout:      api.DefaultWriteTimeout,
		IdleTimeout:       api.DefaultIdleTimeout,
		MaxHeaderBytes:    api.DefaultMaxHeaderBytes,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}}
}

// Serve serves on ln until ctx ends, then shuts down.
func (h *healthHTTP) Serve(ctx context.Context, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- h.srv.Serve(api.JSONErrorListener(ln, h.srv.MaxHeaderBytes)) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.srv.Shutdown(shutdown)
	if serr := <-served; err == nil && !errors.Is(serr, http.ErrServerClosed) {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	return nil
}

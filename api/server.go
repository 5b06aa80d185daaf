package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"situ/internal/jsonw"
)

// Routes served by the API.
const (
	RouteScore    = "/v1/score"
	RouteOutcomes = "/v1/outcomes"
	RouteHealth   = "/healthz"
	RouteReady    = "/readyz"
	RouteMetrics  = "/metrics"
)

// Server is situ's HTTP API. Build it with New; serve it with Serve or
// mount Handler in your own server.
type Server struct {
	cfg      Config
	log      *zap.Logger
	engine   *gin.Engine
	metrics  *metrics
	buffers  sync.Pool // *[]byte
	draining atomic.Bool
	// ruleErrors warns about policy rules that fail to evaluate.
	ruleErrors ruleErrorLog
	// healthBody and readyBody are the answers of /healthz and /readyz.
	healthBody, readyBody []byte
}

// New builds a Server from cfg.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := newServer(cfg, "")
	if err != nil {
		return nil, err
	}
	scoreAccess := ScoreAccess(s.cfg.Tokens)
	s.engine.POST(RouteScore, scoreAccess, s.score)
	s.engine.POST(RouteOutcomes, scoreAccess, s.postOutcome)
	s.registerAdmin()
	return s, nil
}

// NewHealthServer builds the Server of a process that does not score
// (situ's learner and broker roles). It serves GET /healthz, /readyz and
// /metrics only, with everything else as New has it: the http.Server
// limits, request metrics (situ_http_request_duration_seconds) and logs,
// JSON problems for 404, 405 and net/http's own errors, and the drain.
// role names the process in the answers of /healthz
// ({"status":"ok","role":"learner"}) and /readyz and in the 404 problem.
// cfg must have no Decider, no Outcomes, no Control and no Results.
func NewHealthServer(role string, cfg Config) (*Server, error) {
	switch {
	case role == "":
		return nil, errors.New("api config: a health server needs a role")
	case cfg.Decider != nil || cfg.Outcomes != nil || cfg.Control != nil || cfg.Results != nil:
		return nil, errors.New("api config: a health server takes no decider, no outcome sink, no control plane and no experiment results")
	}
	if err := cfg.check(false); err != nil {
		return nil, err
	}
	return newServer(cfg, role)
}

// newServer builds what New and NewHealthServer share: the gin engine
// with its middleware, /healthz, /readyz, /metrics and the 404 and 405
// answers. role is "" for the API, which also keeps the decision
// metrics.
func newServer(cfg Config, role string) (*Server, error) {
	cfg = cfg.withDefaults()
	m, err := newMetrics(cfg.Registerer, role == "")
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.Named("http"), metrics: m}
	s.healthBody, s.readyBody = statusBody("ok", role), statusBody("ready", role)
	s.ruleErrors = ruleErrorLog{log: cfg.Logger.Named("policy"), interval: cfg.RuleErrorLogInterval}
	s.buffers.New = func() any { b := make([]byte, 0, 4096); return &b }

	gin.SetMode(gin.ReleaseMode) // process-global in gin; situ never runs gin in debug mode
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.ContextWithFallback = false
	// Nothing reads the client address; trust no X-Forwarded-For
	// (gin trusts every proxy by default).
	if err := e.SetTrustedProxies(nil); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	e.Use(s.instrument, s.recoverPanics)
	e.GET(RouteHealth, s.health)
	e.GET(RouteReady, s.ready)
	e.GET(RouteMetrics, gin.WrapH(promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
		ErrorLog:      zap.NewStdLog(s.log),
		ErrorHandling: promhttp.ContinueOnError,
	})))
	notFound := "no such route: see docs/api.md for the endpoints"
	if role != "" {
		notFound = "this process runs the " + role + " role: it serves " + RouteHealth + ", " + RouteReady + " and " + RouteMetrics + "; score on an api or all replica"
	}
	e.NoRoute(func(c *gin.Context) {
		s.writeProblem(c, problem{http.StatusNotFound, CodeNotFound, "", notFound})
	})
	e.NoMethod(func(c *gin.Context) {
		s.writeProblem(c, problem{http.StatusMethodNotAllowed, CodeMethodNotAllowed, "", "method " + c.Request.Method + " is not allowed here; allowed: " + c.Writer.Header().Get("Allow")})
	})
	s.engine = e
	return s, nil
}

// Handler returns the API's http.Handler.
func (s *Server) Handler() http.Handler { return s.engine }

// Serve answers requests on ln (wrapped in JSONErrorListener, so that even
// net/http's own error answers are JSON) until ctx ends, then stops accepting
// connections, lets running requests finish for up to Config.DrainTimeout
// and returns. It returns nil after a complete drain.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          zap.NewStdLog(s.log),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(JSONErrorListener(ln, s.cfg.MaxHeaderBytes)) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	drainCtx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	err := srv.Shutdown(drainCtx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("drain http connections: %w", err)
	}
	return nil
}

// instrument records the duration of every request in the histogram and
// logs it: method, route, status, latency, bytes, and for an error answer
// its error_code and field (when one is to blame). Bodies, query strings
// and anything identifying a customer are never logged. Health, readiness
// and metrics scrapes are not logged.
func (s *Server) instrument(c *gin.Context) {
	start := time.Now()
	c.Next()
	elapsed := time.Since(start)
	status := c.Writer.Status()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	method := c.Request.Method
	if !knownMethod(method) {
		method = "other" // bounded label values
	}
	s.metrics.requests.WithLabelValues(route, method, statusLabel(status)).Observe(elapsed.Seconds())
	switch route {
	case RouteHealth, RouteReady, RouteMetrics:
		return
	}
	level := zap.InfoLevel
	if status >= 500 && status != http.StatusServiceUnavailable {
		level = zap.ErrorLevel
	}
	if ce := s.log.Check(level, "request"); ce != nil {
		fields := [7]zap.Field{
			zap.String("method", method),
			zap.String("route", route),
			zap.Int("status", status),
			zap.Duration("latency", elapsed),
			zap.Int("bytes", max(c.Writer.Size(), 0)),
		}
		n := 5
		if status >= 400 {
			if v, ok := c.Get(problemKey); ok {
				p := v.(problem)
				fields[n] = zap.String("error_code", p.code)
				n++
				if p.field != "" {
					fields[n] = zap.String("field", p.field)
					n++
				}
			}
		}
		ce.Write(fields[:n]...)
	}
}

func knownMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return true
	}
	return false
}

// recoverPanics turns a panic in a handler into a logged 500 JSON answer.
func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler { // net/http's way to abort a response: let it through
			panic(v)
		}
		s.log.Error("panic in handler", zap.String("route", c.FullPath()), zap.Any("panic", v), zap.Stack("stack"))
		c.Abort()
		if !c.Writer.Written() {
			s.writeProblem(c, problem{http.StatusInternalServerError, CodeInternal, "", "internal error"})
		}
	}()
	c.Next()
}

func (s *Server) getBuffer() *[]byte { return s.buffers.Get().(*[]byte) }

// putBuffer returns a buffer to the pool; b is what it grew into. Buffers
// that grew beyond 64 KiB are dropped.
func (s *Server) putBuffer(bp *[]byte, b []byte) {
	if cap(b) > 64<<10 {
		return
	}
	*bp = b[:0]
	s.buffers.Put(bp)
}

// statusBody is {"status":…} for the API, {"status":…,"role":…} for a
// health server.
func statusBody(status, role string) []byte {
	b := jsonw.String(append([]byte(nil), `{"status":`...), status)
	if role != "" {
		b = jsonw.String(append(b, `,"role":`...), role)
	}
	return append(b, "}\n"...)
}

func (s *Server) health(c *gin.Context) {
	writeJSON(c, http.StatusOK, s.healthBody)
}

func (s *Server) ready(c *gin.Context) {
	if s.draining.Load() {
		s.writeProblem(c, problem{http.StatusServiceUnavailable, CodeNotReady, "", "shutting down"})
		return
	}
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.ReadyTimeout)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			s.writeProblem(c, problem{http.StatusServiceUnavailable, CodeNotReady, "", err.Error()})
			return
		}
	}
	writeJSON(c, http.StatusOK, s.readyBody)
}

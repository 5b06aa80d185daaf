package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"situ/models"
	"situ/scoring"
)

// Decider decides how to treat a customer; *scoring.Engine implements it.
// Input errors are *features.FieldError, a policy that leaves no treatment
// is *policy.NoEligibleError.
type Decider interface {
	Decide(ctx context.Context, req scoring.Request) (scoring.Decision, error)
}

// OutcomeSink takes the outcomes POST /v1/outcomes decodes (in situ: the
// producer to the nba.outcomes topic) and validates them: an error wrapping
// a *features.FieldError is a bad outcome (the API answers 400 naming the
// field); any other error means the outcome was not taken and the client
// should retry (503).
type OutcomeSink interface {
	PublishOutcome(ctx context.Context, o models.Outcome) error
}

// Defaults of Config.
const (
	DefaultMaxBodyBytes         = 64 << 10
	DefaultReadHeaderTimeout    = 5 * time.Second
	DefaultReadTimeout          = 10 * time.Second
	DefaultWriteTimeout         = 10 * time.Second
	DefaultIdleTimeout          = 120 * time.Second
	DefaultMaxHeaderBytes       = 16 << 10
	DefaultDrainTimeout         = 10 * time.Second
	DefaultReadyTimeout         = 2 * time.Second
	DefaultRuleErrorLogInterval = time.Minute
)

// Config configures a Server. Zero fields take the documented defaults.
type Config struct {
	// Decider answers POST /v1/score. Required by New; a health server
	// (NewHealthServer) has none.
	Decider Decider
	// Outcomes takes what POST /v1/outcomes accepts. Default nil: the
	// endpoint answers 503 "outcome ingestion is not configured".
	Outcomes OutcomeSink
	// OutcomeWindow, when set, is the learner's reward window: POST
	// /v1/outcomes answers 400 for a decision_id that cannot be one of
	// situ's decisions within it (models.CheckDecisionID: not a UUID, or a
	// UUIDv7 older than the window or in the future). Default 0: any id.
	OutcomeWindow time.Duration
	// Now is the clock OutcomeWindow is measured on. Default time.Now.
	Now func() time.Time
	// Tokens are the accepted bearer tokens (docs/admin.md). The admin
	// routes need an analyst or admin token; the score routes need a score
	// or admin token when a score token is among them, and are open
	// otherwise (ScoreAccess; CheckScoreExposure decides at start whether
	// that is allowed). Default: none, so every admin route answers 401.
	Tokens Tokens
	// Control is the data team's configuration the admin routes read and
	// change (/v1/admin/...). Default nil: after authentication they
	// answer 503 "the control plane is not configured". The ControlPlane
	// writes the audit trail; the handlers pass it the principal.
	Control ControlPlane
	// Results are the experiments' results the results engine publishes,
	// for GET /v1/admin/experiments/{id}/results. Default nil: every
	// experiment answers results with no units yet (ZeroResults).
	Results ExperimentResults
	// Ready reports whether the service can take traffic; /readyz answers
	// 503 with its error. Default nil: ready while serving.
	Ready func(ctx context.Context) error
	// ReadyTimeout bounds one Ready call. Default 2s.
	ReadyTimeout time.Duration

	// Logger receives request logs (child "http") and server errors.
	// Default nil: zap.NewNop().
	Logger *zap.Logger
	// RuleErrorLogInterval is how often, at most, a warning is logged
	// (child "policy") for a service-policy rule whose condition could not
	// be evaluated; failures in between are counted in the next entry's
	// "suppressed". Default 1m.
	RuleErrorLogInterval time.Duration
	// Registerer is where the HTTP and decision metrics are registered.
	// Default nil: a new private registry (then also the Gatherer).
	Registerer prometheus.Registerer
	// Gatherer is what GET /metrics serves. Default nil: the Registerer
	// when it is also a Gatherer (a *prometheus.Registry); otherwise
	// required.
	Gatherer prometheus.Gatherer

	// MaxBodyBytes bounds request bodies; larger ones get 413. Default 64 KiB.
	MaxBodyBytes int64

	// http.Server limits. Defaults: ReadHeaderTimeout 5s, ReadTimeout 10s,
	// WriteTimeout 10s, IdleTimeout 120s, MaxHeaderBytes 16 KiB.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// DrainTimeout bounds the graceful shutdown when Serve's context ends:
	// requests still running after it are cut off. Default 10s.
	DrainTimeout time.Duration
}

// Validate checks the configuration of New; zero values are valid (they
// mean the defaults) except for the Decider.
func (c Config) Validate() error { return c.check(true) }

// check validates the configuration, with or without a Decider.
func (c Config) check(needDecider bool) error {
	var errs []error
	if needDecider && c.Decider == nil {
		errs = append(errs, errors.New("a decider is required"))
	}
	if c.MaxBodyBytes < 0 || c.MaxBodyBytes > 16<<20 {
		errs = append(errs, fmt.Errorf("max body bytes must be between 1 and 16 MiB, got %d", c.MaxBodyBytes))
	}
	if c.MaxHeaderBytes < 0 {
		errs = append(errs, fmt.Errorf("max header bytes must not be negative, got %d", c.MaxHeaderBytes))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"read header timeout", c.ReadHeaderTimeout}, {"read timeout", c.ReadTimeout},
		{"write timeout", c.WriteTimeout}, {"idle timeout", c.IdleTimeout},
		{"drain timeout", c.DrainTimeout}, {"ready timeout", c.ReadyTimeout},
		{"rule error log interval", c.RuleErrorLogInterval},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %s", d.name, d.v))
		}
	}
	if c.Registerer != nil && c.Gatherer == nil {
		if _, ok := c.Registerer.(prometheus.Gatherer); !ok {
			errs = append(errs, errors.New("a gatherer is required when the registerer is not a gatherer"))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("api config: %w", errors.Join(errs...))
	}
	return nil
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Registerer == nil {
		reg := prometheus.NewRegistry()
		c.Registerer = reg
		if c.Gatherer == nil {
			c.Gatherer = reg
		}
	}
	if c.Gatherer == nil {
		c.Gatherer = c.Registerer.(prometheus.Gatherer) // checked by Validate
	}
	setDefault(&c.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&c.ReadTimeout, DefaultReadTimeout)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&c.DrainTimeout, DefaultDrainTimeout)
	setDefault(&c.ReadyTimeout, DefaultReadyTimeout)
	setDefault(&c.RuleErrorLogInterval, DefaultRuleErrorLogInterval)
	return c
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

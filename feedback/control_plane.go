package feedback

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"situ/api"
	"situ/control"
	"situ/features"
	"situ/models"
)

// ControlPlaneConfig configures a ControlPlane.
type ControlPlaneConfig struct {
	// Log is the process's nba.control log. Required; the caller runs it.
	Log *ControlLog
	// Model returns the learned model serving now (the scoring engine's):
	// a pin without a value holds the weight at its value there, and the
	// weights table shows it. Required.
	Model func() *models.Model
	// AuditLogger records every change, accepted or refused, and every dry
	// run: who (principal and author), what (kinds, version, base), when,
	// the result and the error. It must not be sampled (zap's production
	// config samples: build its core without a sampler), or audit entries
	// are lost under load. Required.
	AuditLogger *zap.Logger
	// SubmitTimeout bounds a change: writing its record and reading it
	// back. Default 10s.
	SubmitTimeout time.Duration
	// Now stamps records. Default time.Now.
	Now func() time.Time
	// Registerer receives situ_control_changes_total{kind,result}.
	// Default nil: not registered.
	Registerer prometheus.Registerer
	// Logger is the parent logger; the plane logs as "control".
	Logger *zap.Logger
}

// Results of a change (situ_control_changes_total{result}).
const (
	ChangeAccepted        = "accepted"
	ChangeRefusedInvalid  = "refused_invalid"
	ChangeRefusedStale    = "refused_stale"
	ChangeFailed          = "failed"
	changeDryRun          = "dry_run" // audit only
	kindUnknown           = "unknown" // the kind label of a change whose parts are not known (a refused rollback)
	unbasedAttempts       = 3
	proposalIDBytes       = 12
	defaultSubmitDeadline = 10 * time.Second
)

var (
	changeResults = []string{ChangeAccepted, ChangeRefusedInvalid, ChangeRefusedStale, ChangeFailed}
	changeKinds   = []string{string(control.KindWeights), string(control.KindLevers), string(control.KindReward),
		string(control.KindPolicy), string(control.KindExploration), string(control.KindExperiments), kindUnknown}
)

// ErrNotCaughtUp means the process has not read the whole configuration
// yet: it takes no change until it has (the API answers 503).
var ErrNotCaughtUp = errors.New("the configuration is still being read from nba.control: retry shortly")

// ControlPlane serves the data team's configuration over a ControlLog:
// the admin API's api.ControlPlane. The log is the truth: a change is
// validated against the configuration this process has read, written to
// nba.control as the next version, and answered only when this process
// has read it back and applied it; if another process's record took that
// version first, the change is stale (409). Changes of one process are
// made one at a time.
type ControlPlane struct {
	cfg     ControlPlaneConfig
	log     *zap.Logger
	audit   *zap.Logger
	clog    *ControlLog
	sem     chan struct{}
	changes *prometheus.CounterVec
}

var _ api.ControlPlane = (*ControlPlane)(nil)

// NewControlPlane checks cfg and returns a plane.
func NewControlPlane(cfg ControlPlaneConfig) (*ControlPlane, error) {
	if cfg.SubmitTimeout == 0 {
		cfg.SubmitTimeout = defaultSubmitDeadline
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	switch {
	case cfg.Log == nil || cfg.Model == nil:
		return nil, errors.New("control plane: a control log and a model source are required")
	case cfg.AuditLogger == nil:
		return nil, errors.New("control plane: an (unsampled) audit logger is required")
	case cfg.SubmitTimeout < 0:
		return nil, errors.New("control plane: submit timeout must not be negative")
	}
	p := &ControlPlane{
		cfg: cfg, log: cfg.Logger.Named("control"), audit: cfg.AuditLogger.Named("audit").With(zap.String("component", "control")),
		clog: cfg.Log, sem: make(chan struct{}, 1),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "situ_control_changes_total",
			Help: "Configuration changes and rollbacks submitted (dry runs excluded), by kind named and result."}, []string{"kind", "result"}),
	}
	for _, k := range changeKinds {
		for _, r := range changeResults {
			p.changes.WithLabelValues(k, r)
		}
	}
	if err := register(cfg.Registerer, p.changes); err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}
	return p, nil
}

// Current returns the version read last and its configuration.
func (p *ControlPlane) Current() (int64, control.Config) { return p.clog.Current() }

// Weights returns the weights table of the learned model of the moment
// under the latest configuration that compiled.
func (p *ControlPlane) Weights(only features.TreatmentSet) (api.WeightsTable, error) {
	m := p.cfg.Model()
	cc := p.clog.compiledLatest()
	rows, err := control.WeightsTable(m, cc.applied, only)
	if err != nil {
		return api.WeightsTable{}, fmt.Errorf("weights table: %w", err)
	}
	return api.WeightsTable{ModelVersion: m.Version(), ConfigVersion: cc.version, Weights: rows}, nil
}

// Records returns the history, newest first.
func (p *ControlPlane) Records() []control.Record { return p.clog.history.Records() }

// Record returns one version's record.
func (p *ControlPlane) Record(version int64) (control.Record, error) {
	r, ok := p.clog.history.Get(version)
	if !ok {
		cur, _ := p.clog.Current()
		return control.Record{}, &control.UnknownVersionError{Version: version, Current: cur}
	}
	return r, nil
}

// Diff returns what differs between two versions' configurations.
func (p *ControlPlane) Diff(from, to int64) ([]control.Difference, error) {
	a, ok := p.clog.history.At(from)
	if !ok {
		cur, _ := p.clog.Current()
		return nil, &control.UnknownVersionError{Version: from, Current: cur}
	}
	b, ok := p.clog.history.At(to)
	if !ok {
		cur, _ := p.clog.Current()
		return nil, &control.UnknownVersionError{Version: to, Current: cur}
	}
	return control.Diff(a, b), nil
}

// env is what a change is validated against now.
func (p *ControlPlane) env() control.Env {
	e := p.clog.env
	e.Model = p.cfg.Model()
	return e
}

// Submit validates a change and, unless it is a dry run, makes it the
// next version on nba.control; see ControlPlane.
func (p *ControlPlane) Submit(ctx context.Context, req api.ChangeRequest) (api.ChangeResult, error) {
	ev := auditEvent{action: "change", principal: req.Principal, author: req.Author, reason: req.Reason,
		base: req.BaseVersion, dryRun: req.DryRun, kinds: req.Change.Kinds()}
	prepare := func(base *int64, now time.Time) (control.Record, error) {
		return p.clog.history.Prepare(req.Change, req.Author, req.Reason, base, now, p.env())
	}
	if req.DryRun {
		now := p.cfg.Now()
		ev.time = now
		rec, err := prepare(req.BaseVersion, now)
		if err != nil {
			ev.result, ev.err = refusal(err), err
			p.record(ev)
			return api.ChangeResult{}, err
		}
		ev.result, ev.version = changeDryRun, rec.Version
		p.record(ev)
		return api.ChangeResult{Record: rec, Diff: control.Diff(rec.Before, rec.After), DryRun: true}, nil
	}
	rec, err := p.commit(ctx, &ev, prepare)
	if err != nil {
		return api.ChangeResult{}, err
	}
	return api.ChangeResult{Record: rec, Diff: control.Diff(rec.Before, rec.After)}, nil
}

// Rollback makes a new version whose configuration equals version
// req.ToVersion's.
func (p *ControlPlane) Rollback(ctx context.Context, req api.RollbackRequest) (control.Record, error) {
	to := req.ToVersion
	ev := auditEvent{action: "rollback", principal: req.Principal, author: req.Author, reason: req.Reason,
		base: req.BaseVersion, rollbackTo: &to}
	return p.commit(ctx, &ev, func(base *int64, now time.Time) (control.Record, error) {
		return p.clog.history.PrepareRollback(to, req.Author, req.Reason, base, now, p.env())
	})
}

// commit writes the record prepare builds and waits until this process
// has read it back. Without a base version, a record that lost its
// version to another process's is prepared again on the new current
// version, a few times; with one, it is stale.
func (p *ControlPlane) commit(ctx context.Context, ev *auditEvent, prepare func(base *int64, now time.Time) (control.Record, error)) (control.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.SubmitTimeout)
	defer cancel()
	ev.time = p.cfg.Now()
	rec, err := p.commitOnce(ctx, ev, prepare)
	if err != nil {
		ev.err = err
		if ev.result == "" {
			ev.result = refusal(err)
		}
	} else {
		ev.result = ChangeAccepted
	}
	p.record(*ev)
	for _, k := range ev.kindLabels() {
		p.changes.WithLabelValues(k, ev.result).Inc()
	}
	return rec, err
}

func (p *ControlPlane) commitOnce(ctx context.Context, ev *auditEvent, prepare func(base *int64, now time.Time) (control.Record, error)) (control.Record, error) {
	select {
	case p.sem <- struct{}{}:
		defer func() { <-p.sem }()
	case <-ctx.Done():
		ev.result = ChangeFailed
		return control.Record{}, fmt.Errorf("wait for the change before this one: %w", ctx.Err())
	}
	if !p.clog.isCaughtUp() {
		ev.result = ChangeFailed
		return control.Record{}, ErrNotCaughtUp
	}
	for attempt := 1; ; attempt++ {
		now := p.cfg.Now()
		ev.time = now
		rec, err := prepare(ev.base, now)
		if err != nil {
			return control.Record{}, err
		}
		if ev.rollbackTo != nil {
			ev.kinds = rec.Change.Kinds()
		}
		ev.version = rec.Version
		if rec.ID, err = proposalID(); err != nil {
			ev.result = ChangeFailed
			return control.Record{}, err
		}
		ev.id = rec.ID
		if err := p.clog.Write(ctx, rec); err != nil {
			ev.result = ChangeFailed
			return control.Record{}, err
		}
		if err := p.clog.WaitApplied(ctx, rec.Version); err != nil {
			ev.result = ChangeFailed
			return control.Record{}, fmt.Errorf("control record version %d written, not read back yet (GET the history to see whether it took effect): %w", rec.Version, err)
		}
		got, _ := p.clog.history.Get(rec.Version)
		if got.ID == rec.ID {
			return got, nil
		}
		cur, _ := p.clog.Current()
		if ev.base != nil || attempt == unbasedAttempts {
			return control.Record{}, &control.StaleError{Current: cur, Base: rec.Version - 1}
		}
		p.log.Info("another change took the version, preparing again", zap.Int64("version", rec.Version), zap.Int64("current", cur))
	}
}

// refusal is the result label of a change's error.
func refusal(err error) string {
	var fe *features.FieldError
	var unknown *control.UnknownVersionError
	switch {
	case errors.Is(err, control.ErrStale):
		return ChangeRefusedStale
	case errors.As(err, &fe), errors.As(err, &unknown):
		return ChangeRefusedInvalid
	}
	return ChangeFailed
}

func proposalID() (string, error) {
	b := make([]byte, proposalIDBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("proposal id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// auditEvent is one audit log entry.
type auditEvent struct {
	action, principal, author, reason string
	base, rollbackTo                  *int64
	dryRun                            bool
	kinds                             []control.Kind
	version                           int64
	id                                string
	time                              time.Time
	result                            string
	err                               error
}

func (e auditEvent) kindLabels() []string {
	if len(e.kinds) == 0 {
		return []string{kindUnknown}
	}
	return kindStrings(e.kinds)
}

// record writes e to the audit log: never a secret (a request holds none;
// the principal is the token's name).
func (p *ControlPlane) record(e auditEvent) {
	fields := []zap.Field{
		zap.String("action", e.action), zap.String("result", e.result),
		zap.String("principal", e.principal), zap.String("author", e.author), zap.String("reason", e.reason),
		zap.Strings("kinds", kindStrings(e.kinds)), zap.Bool("dry_run", e.dryRun), zap.Time("time", e.time.UTC()),
	}
	if e.version > 0 {
		fields = append(fields, zap.Int64("version", e.version))
	}
	if e.base != nil {
		fields = append(fields, zap.Int64("base_version", *e.base))
	}
	if e.rollbackTo != nil {
		fields = append(fields, zap.Int64("to_version", *e.rollbackTo))
	}
	if e.id != "" {
		fields = append(fields, zap.String("proposal_id", e.id))
	}
	if e.err != nil {
		fields = append(fields, zap.String("error", e.err.Error()))
	}
	p.audit.Info("configuration change", fields...)
}

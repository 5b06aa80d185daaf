// Package controltest provides an api.ControlPlane over a real in-memory
// control.History, for the tests of the admin API and of the situ admin
// command: the same validation, versions, stale checks, rollbacks and
// diffs as situ's own, without nba.control.
package controltest

import (
	"context"
	"sync"
	"testing"
	"time"

	"situ/api"
	"situ/control"
	"situ/features"
	"situ/models"
)

// Start is the time of the first change; each later one is a minute on.
var Start = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// Plane is an api.ControlPlane over a control.History that starts at the
// default configuration, with the default schema and model.
type Plane struct {
	History *control.History
	Env     control.Env

	mu sync.Mutex
	// fail, when set, is what Submit (other than a dry run) and Rollback
	// return: a control topic that cannot take the change.
	fail   error
	ticks  int
	audits []Audit
}

// Audit is one accepted change as the audit log sees it.
type Audit struct {
	Version   int64
	Principal string
	Author    string
}

// New returns a Plane at version 0.
func New(tb testing.TB) *Plane {
	tb.Helper()
	schema, err := features.DefaultSchema()
	if err != nil {
		tb.Fatal(err)
	}
	model, err := models.DefaultModel(schema)
	if err != nil {
		tb.Fatal(err)
	}
	initial, err := control.Default()
	if err != nil {
		tb.Fatal(err)
	}
	return &Plane{History: control.NewHistory(initial), Env: control.Env{Schema: schema, Model: model}}
}

// Fail makes every later write fail with err (nil: succeed again).
func (p *Plane) Fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = err
}

// Audits returns the accepted changes in order, with the principal that
// made each.
func (p *Plane) Audits() []Audit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Audit(nil), p.audits...)
}

func (p *Plane) now() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := Start.Add(time.Duration(p.ticks) * time.Minute)
	p.ticks++
	return t
}

func (p *Plane) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fail
}

func (p *Plane) audit(r control.Record, principal string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.audits = append(p.audits, Audit{Version: r.Version, Principal: principal, Author: r.Author})
}

// Current implements api.ControlPlane.
func (p *Plane) Current() (int64, control.Config) { return p.History.Current() }

// Weights implements api.ControlPlane.
func (p *Plane) Weights(only features.TreatmentSet) (api.WeightsTable, error) {
	v, cfg := p.History.Current()
	applied, err := control.Compile(cfg, p.Env)
	if err != nil {
		return api.WeightsTable{}, err
	}
	rows, err := control.WeightsTable(p.Env.Model, applied, only)
	if err != nil {
		return api.WeightsTable{}, err
	}
	return api.WeightsTable{ModelVersion: p.Env.Model.Version(), ConfigVersion: v, Weights: rows}, nil
}

// Submit implements api.ControlPlane.
func (p *Plane) Submit(_ context.Context, req api.ChangeRequest) (api.ChangeResult, error) {
	if req.DryRun {
		v, before := p.History.Current()
		if req.BaseVersion != nil && *req.BaseVersion != v {
			return api.ChangeResult{}, &control.StaleError{Current: v, Base: *req.BaseVersion}
		}
		after, err := control.Apply(before, req.Change, p.Env)
		if err != nil {
			return api.ChangeResult{}, err
		}
		diff := control.Diff(before, after)
		r := control.Record{
			FormatVersion: control.FormatVersion, Version: v + 1, Author: req.Author, Reason: req.Reason,
			Time: p.now(), Kinds: kinds(diff), Change: req.Change, Before: before, After: after,
		}
		return api.ChangeResult{Record: r, Diff: diff, DryRun: true}, nil
	}
	if err := p.failure(); err != nil {
		return api.ChangeResult{}, err
	}
	r, err := p.History.Propose(req.Change, req.Author, req.Reason, req.BaseVersion, p.now(), p.Env)
	if err != nil {
		return api.ChangeResult{}, err
	}
	p.audit(r, req.Principal)
	return api.ChangeResult{Record: r, Diff: control.Diff(r.Before, r.After)}, nil
}

// Rollback implements api.ControlPlane.
func (p *Plane) Rollback(_ context.Context, req api.RollbackRequest) (control.Record, error) {
	if err := p.failure(); err != nil {
		return control.Record{}, err
	}
	r, err := p.History.ProposeRollback(req.ToVersion, req.Author, req.Reason, req.BaseVersion, p.now(), p.Env)
	if err != nil {
		return control.Record{}, err
	}
	p.audit(r, req.Principal)
	return r, nil
}

// Records implements api.ControlPlane.
func (p *Plane) Records() []control.Record { return p.History.Records() }

// Record implements api.ControlPlane.
func (p *Plane) Record(version int64) (control.Record, error) {
	r, ok := p.History.Get(version)
	if !ok {
		cur, _ := p.History.Current()
		return control.Record{}, &control.UnknownVersionError{Version: version, Current: cur}
	}
	return r, nil
}

// Diff implements api.ControlPlane.
func (p *Plane) Diff(from, to int64) ([]control.Difference, error) {
	a, err := p.at(from)
	if err != nil {
		return nil, err
	}
	b, err := p.at(to)
	if err != nil {
		return nil, err
	}
	return control.Diff(a, b), nil
}

func (p *Plane) at(v int64) (control.Config, error) {
	c, ok := p.History.At(v)
	if !ok {
		cur, _ := p.History.Current()
		return control.Config{}, &control.UnknownVersionError{Version: v, Current: cur}
	}
	return c, nil
}

// kinds lists the parts diff touches, in the order control.Diff lists
// them (which is Record.Kinds' order).
func kinds(diff []control.Difference) []control.Kind {
	out := []control.Kind{}
	for _, d := range diff {
		if k := d.Kind(); len(out) == 0 || out[len(out)-1] != k {
			out = append(out, k)
		}
	}
	return out
}

var _ api.ControlPlane = (*Plane)(nil)

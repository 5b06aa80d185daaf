package control

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Bounds of a record's author and reason.
const (
	MaxAuthorLength = 256
	MaxReasonLength = 4096
)

// ErrStale is what a StaleError is (errors.Is).
var ErrStale = errors.New("stale base version")

// StaleError means a change was made on a base version that is no longer
// the current one: someone else's change landed first. The API answers 409.
type StaleError struct {
	Current, Base int64
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("base_version %d is not the current version %d: another change landed first; review it and retry on version %d", e.Base, e.Current, e.Current)
}

// Is makes errors.Is(err, ErrStale) hold.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// ErrConflict means a replayed record contradicts the history: another
// record holds its version, or its before is not the current
// configuration.
var ErrConflict = errors.New("control record conflicts with the history")

// GapError means a replayed record is not the next version: records in
// between are missing.
type GapError struct {
	Current, Got int64
}

func (e *GapError) Error() string {
	return fmt.Sprintf("control record version %d does not follow the current version %d", e.Got, e.Current)
}

// UnknownVersionError means a version is not in the history.
type UnknownVersionError struct {
	Version, Current int64
}

func (e *UnknownVersionError) Error() string {
	return fmt.Sprintf("version %d is unknown: versions are 0 to %d", e.Version, e.Current)
}

// History is the sequence of accepted changes. Version 0 is the initial
// configuration it is made with; record i holds version i+1. It is safe for
// concurrent use; Propose checks the base and appends in one step, so two
// changes on the same base never both apply. Configurations and records it
// returns are copies.
type History struct {
	mu      sync.RWMutex
	initial Config
	records []Record
}

// NewHistory starts a history whose version 0 is initial (normally
// Default()).
func NewHistory(initial Config) *History {
	return &History{initial: initial.Clone()}
}

// Current returns the current version and its configuration.
func (h *History) Current() (int64, Config) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return int64(len(h.records)), h.current().Clone()
}

func (h *History) current() Config {
	if len(h.records) == 0 {
		return h.initial
	}
	return h.records[len(h.records)-1].After
}

// At returns the configuration of version v.
func (h *History) At(v int64) (Config, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	c, ok := h.at(v)
	if !ok {
		return Config{}, false
	}
	return c.Clone(), true
}

func (h *History) at(v int64) (Config, bool) {
	switch {
	case v == 0:
		return h.initial, true
	case v < 0 || v > int64(len(h.records)):
		return Config{}, false
	}
	return h.records[v-1].After, true
}

// Get returns the record of version v (1 or more).
func (h *History) Get(v int64) (Record, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if v < 1 || v > int64(len(h.records)) {
		return Record{}, false
	}
	return cloneRecord(h.records[v-1]), true
}

// Records returns every record, newest first.
func (h *History) Records() []Record {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]Record, len(h.records))
	for i, r := range h.records {
		out[len(out)-1-i] = cloneRecord(r)
	}
	return out
}

// Propose applies change to the current configuration and, when it is
// valid, appends it as the next version and returns its record, to be
// written to nba.control. With baseVersion given, the change applies only
// on that version: on any other it is a *StaleError. Errors in the change
// are *features.FieldError (see Apply), as are a missing or oversized
// author or reason; the history is then unchanged.
func (h *History) Propose(change Change, author, reason string, baseVersion *int64, now time.Time, env Env) (Record, error) {
	return h.propose(author, reason, baseVersion, now, env, nil, func(Config) (Change, error) { return change, nil })
}

// Rollback returns the change that restores version target: applied to
// the current configuration, it gives one that encodes to the same bytes
// as target's (overrides, pins with their values, levers, reward, policy
// text, exploration; the experiments stay as they are). It is an error when target is unknown or equals the
// current configuration.
func (h *History) Rollback(target int64) (Change, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.rollback(target)
}

func (h *History) rollback(target int64) (Change, error) {
	to, ok := h.at(target)
	if !ok {
		return Change{}, &UnknownVersionError{Version: target, Current: int64(len(h.records))}
	}
	ch := restore(h.current(), to)
	if ch.IsEmpty() {
		return Change{}, fieldErr("to_version", "version %d equals the current configuration (version %d): nothing to roll back", target, len(h.records))
	}
	return ch, nil
}

// ProposeRollback proposes Rollback(target) as the next version, with
// rollback_of set; see Propose.
func (h *History) ProposeRollback(target int64, author, reason string, baseVersion *int64, now time.Time, env Env) (Record, error) {
	return h.propose(author, reason, baseVersion, now, env, &target, func(Config) (Change, error) { return h.rollback(target) })
}

// Prepare returns the record Propose would append, with the same checks
// and errors, and leaves the history unchanged: the record of a process
// that writes it to nba.control and takes it into its history only when
// it reads it back (Add), in the order every reader sees.
func (h *History) Prepare(change Change, author, reason string, baseVersion *int64, now time.Time, env Env) (Record, error) {
	return h.prepare(author, reason, baseVersion, now, env, nil, func(Config) (Change, error) { return change, nil })
}

// PrepareRollback returns the record ProposeRollback would append and
// leaves the history unchanged; see Prepare.
func (h *History) PrepareRollback(target int64, author, reason string, baseVersion *int64, now time.Time, env Env) (Record, error) {
	return h.prepare(author, reason, baseVersion, now, env, &target, func(Config) (Change, error) { return h.rollback(target) })
}

func (h *History) prepare(author, reason string, baseVersion *int64, now time.Time, env Env, rollbackOf *int64, change func(Config) (Change, error)) (Record, error) {
	if err := checkAuthorReason(author, reason); err != nil {
		return Record{}, err
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	r, err := h.next(author, reason, baseVersion, now, env, rollbackOf, change)
	if err != nil {
		return Record{}, err
	}
	return cloneRecord(r), nil
}

func checkAuthorReason(author, reason string) error {
	switch {
	case author == "":
		return fieldErr("author", "is required: who makes the change")
	case len(author) > MaxAuthorLength:
		return fieldErr("author", "must be at most %d bytes", MaxAuthorLength)
	case reason == "":
		return fieldErr("reason", "is required: why the change is made")
	case len(reason) > MaxReasonLength:
		return fieldErr("reason", "must be at most %d bytes", MaxReasonLength)
	}
	return nil
}

func (h *History) propose(author, reason string, baseVersion *int64, now time.Time, env Env, rollbackOf *int64, change func(Config) (Change, error)) (Record, error) {
	if err := checkAuthorReason(author, reason); err != nil {
		return Record{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r, err := h.next(author, reason, baseVersion, now, env, rollbackOf, change)
	if err != nil {
		return Record{}, err
	}
	h.records = append(h.records, r)
	return cloneRecord(r), nil
}

// next builds the record of the next version; h.mu is held.
func (h *History) next(author, reason string, baseVersion *int64, now time.Time, env Env, rollbackOf *int64, change func(Config) (Change, error)) (Record, error) {
	cur := int64(len(h.records))
	if baseVersion != nil && *baseVersion != cur {
		return Record{}, &StaleError{Current: cur, Base: *baseVersion}
	}
	before := h.current()
	ch, err := change(before)
	if err != nil {
		return Record{}, err
	}
	after, err := Apply(before, ch, env)
	if err != nil {
		return Record{}, err
	}
	r := Record{
		FormatVersion: FormatVersion,
		Version:       cur + 1,
		Author:        author,
		Reason:        reason,
		Time:          now.UTC(),
		Kinds:         kinds(Diff(before, after)),
		Change:        cloneChange(ch),
		Before:        before.Clone(),
		After:         after,
	}
	if rollbackOf != nil {
		v := *rollbackOf
		r.RollbackOf = &v
	}
	// what is kept is what a replica decodes from the topic
	enc, err := EncodeRecord(r)
	if err != nil {
		return Record{}, err
	}
	return DecodeRecord(enc)
}

// Add appends a record read from nba.control. A record already in the
// history is accepted again without effect (the proposer reads its own
// records back); a different record at a version already taken, or one
// whose before is not the current configuration, is ErrConflict; a record
// beyond the next version is a *GapError. Add trusts the record's
// configurations: they were validated when proposed.
func (h *History) Add(r Record) error {
	if r.FormatVersion != FormatVersion {
		return fmt.Errorf("control record version %d: format_version %d, this service reads %d", r.Version, r.FormatVersion, FormatVersion)
	}
	enc, err := EncodeRecord(r)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := int64(len(h.records))
	switch {
	case r.Version < 1:
		return fmt.Errorf("control record version %d: versions start at 1", r.Version)
	case r.Version <= cur:
		have, err := EncodeRecord(h.records[r.Version-1])
		if err != nil {
			return err
		}
		if !bytes.Equal(have, enc) {
			return fmt.Errorf("control record version %d differs from the one in the history: %w", r.Version, ErrConflict)
		}
		return nil
	case r.Version > cur+1:
		return &GapError{Current: cur, Got: r.Version}
	}
	if !equalConfigs(r.Before, h.current()) {
		return fmt.Errorf("control record version %d: before is not version %d's configuration: %w", r.Version, cur, ErrConflict)
	}
	kept, err := DecodeRecord(enc)
	if err != nil {
		return err
	}
	h.records = append(h.records, kept)
	return nil
}

func cloneRecord(r Record) Record {
	r.Kinds = append([]Kind(nil), r.Kinds...)
	r.Change = cloneChange(r.Change)
	r.Before, r.After = r.Before.Clone(), r.After.Clone()
	if r.RollbackOf != nil {
		v := *r.RollbackOf
		r.RollbackOf = &v
	}
	return r
}

func cloneChange(c Change) Change {
	out := Change{}
	for _, op := range c.Weights {
		op.Set, op.Multiply, op.At = ptrClone(op.Set), ptrClone(op.Multiply), ptrClone(op.At)
		out.Weights = append(out.Weights, op)
	}
	if c.Levers != nil {
		out.Levers = make(map[string]float64, len(c.Levers))
		for k, v := range c.Levers {
			out.Levers[k] = v
		}
	}
	if c.Reward != nil {
		r := *c.Reward
		out.Reward = &r
	}
	if c.Policy != nil {
		p := *c.Policy
		out.Policy = &p
	}
	if c.Exploration != nil {
		x := *c.Exploration
		if x.Explorer != nil {
			s := *x.Explorer
			x.Explorer = &s
		}
		x.Epsilon, x.Gamma0 = ptrClone(x.Epsilon), ptrClone(x.Gamma0)
		out.Exploration = &x
	}
	if e := c.Experiments; e != nil {
		x := ExperimentsChange{}
		if e.Create != nil {
			d := e.Create.Clone()
			x.Create = &d
		}
		if e.Stop != nil {
			s := *e.Stop
			s.Evidence = slices.Clone(s.Evidence)
			for i := range s.Evidence {
				s.Evidence[i].Lift = ptrClone(s.Evidence[i].Lift)
			}
			x.Stop = &s
		}
		out.Experiments = &x
	}
	return out
}

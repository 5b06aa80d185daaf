package feedback

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"situ/control"
	"situ/features"
)

// ConfigApplier is one component's part in applying a configuration (a
// scoring engine's bundle, a learner's pins and reward): Apply receives
// every new version, compiled once for all appliers. An error leaves that
// component with its previous state; it is logged and counted in
// situ_control_apply_errors_total{applier=Name}, and the next version is
// offered again in full.
type ConfigApplier struct {
	// Name labels the applier's errors. Required, unique.
	Name string
	// Apply takes the configuration of version in effect. It runs on the
	// log's reading goroutine, one version at a time: it must not block.
	Apply func(version int64, a *control.Applied) error
}

// ControlLogConfig configures a ControlLog.
type ControlLogConfig struct {
	// Brokers is the bootstrap list. Required.
	Brokers []string
	// Topic carries the configuration records. Default "nba.control".
	Topic string
	// Schema is the feature schema configurations are compiled against.
	// Required.
	Schema *features.Schema
	// RewardBounds is the range a reward definition's clip must lie in
	// (control.Env). Default: control.DefaultRewardBounds.
	RewardBounds [2]float64
	// Initial is version 0, the configuration before any record. Every
	// process reading the topic must have the same one, or records written
	// on one are conflicts on another. Default (nil): control.Default().
	Initial *control.Config
	// Appliers receive every version from 1 on, once the log has caught
	// up with the topic (the latest version then, every new one after).
	// Version 0 is applied by no one: the process serves what it was
	// started with until the first change.
	Appliers []ConfigApplier
	// WriteTimeout bounds one record's write, retries included. Default
	// 10s.
	WriteTimeout time.Duration
	// MaxWait bounds one fetch of the tail reader. Default 500ms.
	MaxWait time.Duration
	// Registerer receives situ_config_version,
	// situ_control_records_skipped_total{reason},
	// situ_control_apply_errors_total{applier} and the Kafka metrics of
	// the topic. Default nil: not registered.
	Registerer prometheus.Registerer
	// Logger is the parent logger; the log logs as "control".
	Logger *zap.Logger
}

// Reasons a record read from nba.control is skipped
// (situ_control_records_skipped_total{reason}).
const (
	SkipUndecodable = "undecodable" // not a control record this build reads
	SkipConflict    = "conflict"    // its version was taken first, or its before is not the configuration in effect
	SkipGap         = "gap"         // its version does not follow the current one
	SkipInvalid     = "invalid"     // any other refusal of the history (a version below 1)
	SkipDuplicate   = "duplicate"   // a record already in the history, written twice
	SkipTombstone   = "tombstone"   // a deleted key
)

var skipReasons = []string{SkipUndecodable, SkipConflict, SkipGap, SkipInvalid, SkipDuplicate, SkipTombstone}

// ControlLog is a process's copy of the data team's configuration, kept
// from nba.control: the topic is the truth. Run reads it from its first
// offset into a control.History (History.Add, in offset order) and then
// follows it; after each new version it compiles the configuration once
// and calls the appliers. Every process reads the one partition in the
// same order and takes the first record for each version, so all agree on
// the history: a record that does not decode, or that conflicts (a second
// record proposed on the same base by another process), is skipped by
// every reader alike, counted and logged. Write appends a record; it takes
// effect, here as everywhere, when it is read back.
type ControlLog struct {
	cfg     ControlLogConfig
	log     *zap.Logger
	env     control.Env
	history *control.History
	tail    *TailReader
	writer  *kafka.Writer
	tr      *kafka.Transport
	writes  *writerMetrics

	mu       sync.Mutex // serialises reading records, applying and caughtUp
	next     int64      // offset of the next record to handle: a re-read after a retry skips the rest
	caughtUp bool
	ready    chan struct{}
	notify   chan struct{} // closed and replaced whenever the applied version grows

	applied     atomic.Int64                   // the version last handed to the appliers (0 before)
	compiled    atomic.Pointer[compiledConfig] // the latest version that compiled
	skipped     map[string]*atomic.Uint64
	applyErrors *prometheus.CounterVec
	running     atomic.Bool
}

// compiledConfig is one version's configuration in its compiled form.
type compiledConfig struct {
	version int64
	applied *control.Applied
}

// NewControlLog checks cfg and returns a log; Run reads the topic.
func NewControlLog(cfg ControlLogConfig) (*ControlLog, error) {
	if cfg.Topic == "" {
		cfg.Topic = DefaultControlTopic
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	switch {
	case len(cfg.Brokers) == 0:
		return nil, errors.New("control log: no brokers")
	case cfg.Schema == nil:
		return nil, errors.New("control log: a feature schema is required")
	case cfg.WriteTimeout < 0:
		return nil, errors.New("control log: write timeout must not be negative")
	}
	names := map[string]bool{}
	for i, a := range cfg.Appliers {
		switch {
		case a.Name == "" || a.Apply == nil:
			return nil, fmt.Errorf("control log: applier %d needs a name and an apply function", i)
		case names[a.Name]:
			return nil, fmt.Errorf("control log: two appliers are named %q", a.Name)
		}
		names[a.Name] = true
	}
	initial := cfg.Initial
	if initial == nil {
		def, err := control.Default()
		if err != nil {
			return nil, fmt.Errorf("control log: %w", err)
		}
		initial = &def
	}
	c := &ControlLog{
		cfg: cfg, log: cfg.Logger.Named("control").With(zap.String("topic", cfg.Topic)),
		env:     control.Env{Schema: cfg.Schema, RewardBounds: cfg.RewardBounds},
		history: control.NewHistory(*initial),
		ready:   make(chan struct{}), notify: make(chan struct{}),
		skipped: map[string]*atomic.Uint64{},
		tr:      &kafka.Transport{DialTimeout: 5 * time.Second, ClientID: clientID},
	}
	a, err := control.Compile(*initial, c.env)
	if err != nil {
		return nil, fmt.Errorf("control log: the initial configuration: %w", err)
	}
	c.compiled.Store(&compiledConfig{version: 0, applied: a})
	c.writer = newSyncWriter(cfg.Brokers, cfg.Topic, time.Millisecond, cfg.WriteTimeout, c.tr, c.log)
	if c.tail, err = NewTailReader(TailConfig{Brokers: cfg.Brokers, Topic: cfg.Topic, Handler: c.handle,
		MaxWait: cfg.MaxWait, Registerer: cfg.Registerer, Logger: cfg.Logger}); err != nil {
		return nil, fmt.Errorf("control log: %w", err)
	}
	if err := c.registerMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *ControlLog) registerMetrics(reg prometheus.Registerer) error {
	km, err := newKafkaMetrics(reg)
	if err != nil {
		return fmt.Errorf("control log: %w", err)
	}
	c.writes = km.writer(c.cfg.Topic)
	if c.applyErrors, err = registerShared(reg, newApplyErrors()); err != nil {
		return fmt.Errorf("control log: %w", err)
	}
	for _, a := range c.cfg.Appliers {
		c.applyErrors.WithLabelValues(a.Name)
	}
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_config_version",
			Help: "Version of the data team's configuration (nba.control) this process applied."},
			func() float64 { return float64(c.applied.Load()) }),
	}
	for _, r := range skipReasons {
		n := &atomic.Uint64{}
		c.skipped[r] = n
		cs = append(cs, counterFunc(n, "situ_control_records_skipped_total",
			"Records read from nba.control and skipped by every reader alike, by reason.", prometheus.Labels{"reason": r}))
	}
	return register(reg, cs...)
}

// newApplyErrors is the apply-error counter the control log and the
// learning loop of one process share.
func newApplyErrors() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "situ_control_apply_errors_total",
		Help: "Configuration versions a component could not apply (it kept its previous state), by applier."}, []string{"applier"})
}

// Run reads the topic from its first offset and follows it until ctx is
// cancelled; it then returns nil. Run may be called once.
func (c *ControlLog) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("control log: Run called twice")
	}
	defer c.tr.CloseIdleConnections()
	defer func() { _ = c.writer.Close() }()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
		case <-c.tail.CaughtUp():
			c.mu.Lock()
			c.applyLatest()
			c.caughtUp = true
			close(c.ready)
			c.mu.Unlock()
			v, _ := c.history.Current()
			c.log.Info("configuration read", zap.Int64("version", v))
		}
	}()
	err := c.tail.Run(ctx)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("control log: %w", err)
	}
	return nil
}

// CaughtUp is closed once the records that were in the topic when Run
// started are read and the latest version is applied: a process is not
// ready before it has the whole configuration.
func (c *ControlLog) CaughtUp() <-chan struct{} { return c.ready }

// isCaughtUp reports whether CaughtUp is closed.
func (c *ControlLog) isCaughtUp() bool {
	select {
	case <-c.ready:
		return true
	default:
		return false
	}
}

// Current returns the version read last and its configuration.
func (c *ControlLog) Current() (int64, control.Config) { return c.history.Current() }

// AppliedVersion returns the version last handed to the appliers (0
// before the first).
func (c *ControlLog) AppliedVersion() int64 { return c.applied.Load() }

// compiledLatest returns the latest version that compiled, compiled.
func (c *ControlLog) compiledLatest() compiledConfig { return *c.compiled.Load() }

// compile compiles cfg for this process.
func (c *ControlLog) compile(cfg control.Config) (*control.Applied, error) {
	return control.Compile(cfg, c.env)
}

// Write appends r to the topic (key r.Key(), every replica acknowledging).
// It is in effect once read back: see WaitApplied. A failed write (or one
// whose ctx ended) may still have reached the topic.
func (c *ControlLog) Write(ctx context.Context, r control.Record) error {
	value, err := control.EncodeRecord(r)
	if err != nil {
		return err
	}
	if len(value) > maxMessageBytes-1024 {
		return fmt.Errorf("control record version %d: %d bytes exceed %d", r.Version, len(value), maxMessageBytes-1024)
	}
	if err := c.writer.WriteMessages(ctx, kafka.Message{Key: []byte(r.Key()), Value: value}); err != nil {
		c.writes.wrote(1, 1)
		return fmt.Errorf("write control record version %d to %s: %w", r.Version, c.cfg.Topic, err)
	}
	c.writes.wrote(1, 0)
	return nil
}

// WaitApplied waits until version v (or a later one) is read and applied,
// or ctx ends.
func (c *ControlLog) WaitApplied(ctx context.Context, v int64) error {
	for {
		c.mu.Lock()
		ch := c.notify
		c.mu.Unlock()
		if c.applied.Load() >= v {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for configuration version %d (read %d): %w", v, c.applied.Load(), ctx.Err())
		}
	}
}

// handle takes one record into the history, in offset order.
func (c *ControlLog) handle(_ context.Context, r TailRecord) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Offset < c.next {
		return nil // read again after the reader restarted from the start
	}
	c.next = r.Offset + 1
	if r.Tombstone() {
		c.skip(SkipTombstone, r, nil)
		return nil
	}
	rec, err := control.DecodeRecord(r.Value)
	if err != nil {
		c.skip(SkipUndecodable, r, err)
		return nil
	}
	before, _ := c.history.Current()
	var gap *control.GapError
	switch err := c.history.Add(rec); {
	case errors.Is(err, control.ErrConflict):
		c.skip(SkipConflict, r, err)
		return nil
	case errors.As(err, &gap):
		c.skip(SkipGap, r, err)
		return nil
	case err != nil:
		c.skip(SkipInvalid, r, err)
		return nil
	}
	if v, _ := c.history.Current(); v == before {
		c.skip(SkipDuplicate, r, nil)
		return nil
	}
	c.log.Info("configuration version read", zap.Int64("version", rec.Version), zap.String("author", rec.Author),
		zap.Strings("kinds", kindStrings(rec.Kinds)), zap.Stringer("position", r.Position))
	if c.caughtUp {
		c.applyLatest()
	}
	return nil
}

func (c *ControlLog) skip(reason string, r TailRecord, err error) {
	c.skipped[reason].Add(1)
	level := c.log.Warn
	if reason == SkipDuplicate {
		level = c.log.Debug
	}
	level("control record skipped", zap.String("reason", reason), zap.ByteString("key", r.Key),
		zap.Stringer("position", r.Position), zap.Error(err))
}

// applyLatest compiles the current version and hands it to the appliers,
// when it is newer than the one they have; c.mu is held.
func (c *ControlLog) applyLatest() {
	v, cfg := c.history.Current()
	if v <= c.applied.Load() {
		return
	}
	a, err := c.compile(cfg)
	if err != nil {
		c.log.Error("configuration does not compile here: every component keeps its previous state", zap.Int64("version", v), zap.Error(err))
		for _, ap := range c.cfg.Appliers {
			c.applyErrors.WithLabelValues(ap.Name).Inc()
		}
	} else {
		c.compiled.Store(&compiledConfig{version: v, applied: a})
		for _, ap := range c.cfg.Appliers {
			if err := ap.Apply(v, a); err != nil {
				c.applyErrors.WithLabelValues(ap.Name).Inc()
				c.log.Error("configuration not applied: the component keeps its previous state",
					zap.String("applier", ap.Name), zap.Int64("version", v), zap.Error(err))
			}
		}
	}
	c.applied.Store(v)
	close(c.notify)
	c.notify = make(chan struct{})
}

func kindStrings(ks []control.Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

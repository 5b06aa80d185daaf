package simulation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	json "github.com/go-json-experiment/json"
	"golang.org/x/sync/errgroup"

	"situ/api/contract"
	"situ/features"
	"situ/models"
)

// OutcomePublisher publishes an outcome so that situ learns from it; in
// `situ sim` it produces to the nba.outcomes topic.
type OutcomePublisher interface {
	PublishOutcome(ctx context.Context, o models.Outcome) error
}

// OutcomePublisherFunc adapts a function to OutcomePublisher.
type OutcomePublisherFunc func(ctx context.Context, o models.Outcome) error

// PublishOutcome implements OutcomePublisher.
func (f OutcomePublisherFunc) PublishOutcome(ctx context.Context, o models.Outcome) error {
	return f(ctx, o)
}

// Config configures a simulation run. Zero fields take the documented
// defaults.
type Config struct {
	// ScoreURL is situ's base URL, e.g. "http://127.0.0.1:8080"; the run
	// posts to ScoreURL + "/v1/score". Required.
	ScoreURL string
	// Client sends the score requests. Default: a client with a 5 s timeout
	// that keeps Concurrency connections alive (closed when the run ends).
	Client *http.Client
	// Publisher receives every drawn outcome. Required.
	Publisher OutcomePublisher
	// Contacts is the number of contacts to simulate. Required, > 0.
	Contacts int
	// Window is the number of contacts per report window. Default
	// Contacts/20 (at least 1).
	Window int
	// Concurrency is the number of contacts in flight. Default 4.
	Concurrency int
	// Seed makes the population, its contacts and their outcomes
	// reproducible. Default 0.
	Seed uint64
	// Customers is the size of the population. Default 10,000.
	Customers int
	// Reward scores outcomes for the report and the expected rewards.
	// Default models.DefaultReward(), situ's embedded default definition.
	Reward *models.RewardDefinition
	// Rate caps the contacts started per second. Default 0: as fast as
	// situ answers.
	Rate float64
	// Strategies are the fixed strategies compared. Default
	// FixedStrategies().
	Strategies []Strategy
	// MaxFailures stops the run with an error once more contacts than
	// this have failed (5xx, 429, timeouts, transport or publish errors).
	// Default 0: never stop for failures.
	MaxFailures int
	// Now stamps the outcomes' occurred_at. Default time.Now.
	Now func() time.Time
	// World is the ground truth. Default nil: the default world
	// (TrueResponse); RandomWorld draws situational ones.
	World *World
	// DriftAt, when positive, switches the ground truth to DriftWorld from
	// contact DriftAt on: the world changes under the learner. Choose a
	// multiple of Window, so that no window mixes the two worlds.
	DriftAt int
	// DriftWorld is the world after DriftAt (nil: the default world).
	DriftWorld *World
	// OnWindow, when set, receives each window as soon as all its contacts
	// are done, in window order. It is called with the run's lock held, so
	// it must return quickly.
	OnWindow func(WindowReport)
}

// ErrContract means situ answered something the contract does not allow: a
// 4xx to a request the simulator built (a simulator bug) or a malformed
// decision. It stops the run.
var ErrContract = errors.New("score contract violated")

// ErrOutcomesNotPublished means the publisher refused an outcome: the
// learner cannot learn from that contact, so the run says nothing about
// learning. It stops the run.
var ErrOutcomesNotPublished = errors.New("outcomes not published")

// errPublish stops the workers after a refused outcome; run replaces it
// with the ErrOutcomesNotPublished error.
var errPublish = errors.New("publish outcome")

// Run simulates cfg.Contacts contacts against situ: for each it asks
// POST /v1/score for a decision, draws the outcome of the served treatment
// from the ground truth, publishes it and scores it. It returns the report
// of the contacts finished. A context cancellation, a contract violation
// (ErrContract), an outcome the publisher refused (ErrOutcomesNotPublished,
// with the count and the first publisher error) or more than MaxFailures
// failed contacts end the run early with an error and the report so far.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	pop, err := NewPopulation(PopulationConfig{Seed: cfg.Seed, Customers: cfg.Customers})
	if err != nil {
		return nil, fmt.Errorf("simulation: %w", err)
	}
	if cfg.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.Concurrency
		cfg.Client = &http.Client{Timeout: 5 * time.Second, Transport: tr}
		defer tr.CloseIdleConnections()
	}
	r := newRunner(cfg, pop)
	start := time.Now()
	err = r.run(ctx)
	rep := r.report()
	rep.Elapsed = time.Since(start)
	return rep, err
}

func (c *Config) fill() error {
	if c.ScoreURL == "" {
		return errors.New("simulation: a score URL is required")
	}
	if !strings.HasPrefix(c.ScoreURL, "http://") && !strings.HasPrefix(c.ScoreURL, "https://") {
		return fmt.Errorf("simulation: score URL %q must start with http:// or https://", c.ScoreURL)
	}
	c.ScoreURL = strings.TrimRight(c.ScoreURL, "/")
	if c.Publisher == nil {
		return errors.New("simulation: an outcome publisher is required")
	}
	if c.Contacts <= 0 {
		return fmt.Errorf("simulation: contacts must be positive, got %d", c.Contacts)
	}
	if c.Window == 0 {
		c.Window = max(1, c.Contacts/20)
	}
	if c.Window < 0 {
		return fmt.Errorf("simulation: window must be positive, got %d", c.Window)
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.Concurrency < 0 {
		return fmt.Errorf("simulation: concurrency must be positive, got %d", c.Concurrency)
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		return fmt.Errorf("simulation: rate must be a finite number ≥ 0, got %g", c.Rate)
	}
	if c.DriftAt < 0 {
		return fmt.Errorf("simulation: drift-at must not be negative, got %d", c.DriftAt)
	}
	if c.MaxFailures < 0 {
		return fmt.Errorf("simulation: max failures must not be negative, got %d", c.MaxFailures)
	}
	if c.Reward == nil {
		def, err := models.DefaultReward()
		if err != nil {
			return fmt.Errorf("simulation: %w", err)
		}
		c.Reward = &def
	}
	if err := c.Reward.Validate(); err != nil {
		return fmt.Errorf("simulation: %w", err)
	}
	if c.Strategies == nil {
		c.Strategies = FixedStrategies()
	}
	for i, s := range c.Strategies {
		if s.Name == "" || s.Choose == nil {
			return fmt.Errorf("simulation: strategy %d needs a name and a Choose function", i)
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// runner holds the state of one run.
type runner struct {
	cfg Config
	pop *Population

	mu       sync.Mutex
	windows  []windowAcc
	emitted  int // windows handed to OnWindow
	failures int
	// lastFailure describes the last failed contact.
	lastFailure string
	// publishFailed counts the outcomes the publisher refused; firstPublishErr
	// is its first error.
	publishFailed   int
	firstPublishErr error
	// experiments accumulates the decisions made inside experiments, by
	// experiment id.
	experiments map[string]*experimentAcc
}

// windowAcc accumulates one window.
type windowAcc struct {
	done          int // contacts finished, served or failed
	served        int
	failed        int
	publishFailed int
	realised      float64
	expected      float64
	oracle        float64
	strategies    []float64
	mix           [features.NumTreatments]int
	modelVersion  int64
	optimal       int // served decisions that chose the oracle's treatment
}

func newRunner(cfg Config, pop *Population) *runner {
	n := (cfg.Contacts + cfg.Window - 1) / cfg.Window
	r := &runner{cfg: cfg, pop: pop, windows: make([]windowAcc, n)}
	for i := range r.windows {
		r.windows[i].strategies = make([]float64, len(cfg.Strategies))
	}
	return r
}

func (r *runner) run(parent context.Context) error {
	g, ctx := errgroup.WithContext(parent)
	next := make(chan int)
	g.Go(func() error {
		defer close(next)
		start := time.Now()
		for i := 0; i < r.cfg.Contacts; i++ {
			if r.cfg.Rate > 0 {
				at := start.Add(time.Duration(float64(i) / r.cfg.Rate * float64(time.Second)))
				if d := time.Until(at); d > 0 {
					t := time.NewTimer(d)
					select {
					case <-ctx.Done():
						t.Stop()
						return nil
					case <-t.C:
					}
				}
			}
			select {
			case next <- i:
			case <-ctx.Done():
				return nil
			}
		}
		return nil
	})
	for w := 0; w < r.cfg.Concurrency; w++ {
		g.Go(func() error {
			for i := range next {
				if err := r.contact(ctx, i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	r.mu.Lock()
	failed, first := r.publishFailed, r.firstPublishErr
	r.mu.Unlock()
	if failed > 0 && (err == nil || errors.Is(err, errPublish)) {
		return fmt.Errorf("simulation: %w: %d (the first failed with: %w)", ErrOutcomesNotPublished, failed, first)
	}
	if err != nil {
		return err
	}
	// the dispatcher stops quietly when the caller cancels
	if err := parent.Err(); err != nil {
		return fmt.Errorf("simulation: %w", err)
	}
	return nil
}

// contactResult is what one served contact adds to its window.
type contactResult struct {
	treatment     features.Treatment
	realised      float64
	expected      [features.NumTreatments]float64
	oracle        features.Treatment
	strategies    []features.Treatment
	modelVersion  int64
	publishFailed bool
	// experiment is what the decision adds to its experiment (nil when it
	// is in none).
	experiment *experimentDecision
}

// contact simulates contact i.
func (r *runner) contact(ctx context.Context, i int) error {
	c := r.pop.Contact(int64(i))
	d, err := r.score(ctx, &c)
	if err != nil {
		if errors.Is(err, ErrContract) || ctx.Err() != nil {
			return fmt.Errorf("contact %d: %w", i, err)
		}
		r.mu.Lock()
		r.lastFailure = err.Error()
		r.mu.Unlock()
		return r.record(i, nil)
	}
	res := contactResult{treatment: d.treatment, modelVersion: d.modelVersion}
	world := r.world(i)
	res.expected = world.ExpectedRewards(&c, r.cfg.Reward)
	res.oracle, _ = Best(&res.expected, d.eligible)
	res.strategies = make([]features.Treatment, len(r.cfg.Strategies))
	for k, s := range r.cfg.Strategies {
		t := s.Choose(c, d.eligible)
		if !d.eligible.Has(t) {
			return fmt.Errorf("contact %d: strategy %s chose %s, not among the eligible %s", i, s.Name, t, d.eligible)
		}
		res.strategies[k] = t
	}
	truth := world.Response(&c, d.treatment)
	o := truth.Draw(newRand(r.cfg.Seed, streamOutcome, uint64(i)))
	res.realised = r.cfg.Reward.Reward(&o)
	res.experiment = newExperimentDecision(world, &c, &d, &o, r.cfg.Reward)
	o.OutcomeID = "sim-" + d.decisionID
	o.DecisionID = d.decisionID
	o.OccurredAt = r.cfg.Now().UTC()
	if err := r.cfg.Publisher.PublishOutcome(ctx, o); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("contact %d: publish outcome: %w", i, err)
		}
		res.publishFailed = true
		r.mu.Lock()
		r.lastFailure = "publish outcome: " + err.Error()
		r.publishFailed++
		if r.firstPublishErr == nil {
			r.firstPublishErr = err
		}
		r.mu.Unlock()
		if err := r.record(i, &res); err != nil {
			return err
		}
		return errPublish
	}
	return r.record(i, &res)
}

// world returns the ground truth of contact i.
func (r *runner) world(i int) *World {
	if r.cfg.DriftAt > 0 && i >= r.cfg.DriftAt {
		return r.cfg.DriftWorld
	}
	return r.cfg.World
}

// record adds contact i (nil when its score request failed) to its window
// and hands finished windows to OnWindow.
func (r *runner) record(i int, res *contactResult) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := &r.windows[i/r.cfg.Window]
	w.done++
	switch {
	case res == nil:
		w.failed++
		r.failures++
	default:
		w.served++
		w.realised += res.realised
		w.expected += res.expected[res.treatment]
		w.oracle += res.expected[res.oracle]
		if res.expected[res.treatment] >= res.expected[res.oracle] {
			w.optimal++
		}
		for k, t := range res.strategies {
			w.strategies[k] += res.expected[t]
		}
		w.mix[res.treatment]++
		if res.experiment != nil && !res.publishFailed {
			r.addExperimentDecision(res.experiment)
		}
		w.modelVersion = max(w.modelVersion, res.modelVersion)
		if res.publishFailed {
			w.publishFailed++
			r.failures++
		}
	}
	if r.cfg.OnWindow != nil {
		for r.emitted < len(r.windows) && r.windows[r.emitted].done == r.windowSize(r.emitted) {
			r.cfg.OnWindow(r.windowReport(r.emitted))
			r.emitted++
		}
	}
	if r.cfg.MaxFailures > 0 && r.failures > r.cfg.MaxFailures {
		return fmt.Errorf("simulation: %d contacts failed, more than the %d allowed", r.failures, r.cfg.MaxFailures)
	}
	return nil
}

// windowSize returns the number of contacts of window k.
func (r *runner) windowSize(k int) int {
	return min(r.cfg.Window, r.cfg.Contacts-k*r.cfg.Window)
}

// decision is what the simulator reads from a score response.
type decision struct {
	decisionID   string
	treatment    features.Treatment
	eligible     features.TreatmentSet
	modelVersion int64
	// strategy is the strategy that chose; experiment and arm name the
	// experiment and arm the decision was in ("" when none).
	strategy        string
	experiment, arm string
}

// scoreAnswer is the part of a score response the simulator reads: the
// contract's answer and the experiment the decision was in (absent or null
// outside experiments).
type scoreAnswer struct {
	contract.ScoreResponse
	Experiment *experimentRef `json:"experiment"`
}

// experimentRef names an experiment and one of its arms.
type experimentRef struct {
	ID  string `json:"id"`
	Arm string `json:"arm"`
}

// maxResponseBytes bounds a score response.
const maxResponseBytes = 1 << 20

// errTransient marks a failed request that is counted, not fatal.
var errTransient = errors.New("score request failed")

// score asks situ for a decision. A 5xx, a 429, a timeout or a transport
// error is errTransient; any other non-200 status and any malformed answer
// is ErrContract.
func (r *runner) score(ctx context.Context, c *features.Context) (decision, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return decision{}, fmt.Errorf("encode score request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.ScoreURL+"/v1/score", bytes.NewReader(body))
	if err != nil {
		return decision{}, fmt.Errorf("build score request: %w: %w", ErrContract, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return decision{}, fmt.Errorf("%w: %w", errTransient, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return decision{}, fmt.Errorf("%w: read response: %w", errTransient, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return decision{}, fmt.Errorf("%w: status %d", errTransient, resp.StatusCode)
	default:
		return decision{}, fmt.Errorf("%w: situ answered %d to a simulated contact: %s", ErrContract, resp.StatusCode, excerpt(raw))
	}
	if len(raw) > maxResponseBytes {
		return decision{}, fmt.Errorf("%w: response larger than %d bytes", ErrContract, maxResponseBytes)
	}
	var sr scoreAnswer
	if err := json.Unmarshal(raw, &sr); err != nil {
		return decision{}, fmt.Errorf("%w: decode response: %w", ErrContract, err)
	}
	return decisionOf(&sr)
}

// decisionOf checks a score response against the contract: a decision id,
// a known chosen treatment with a positive probability, probabilities of
// known treatments in [0, 1] summing to 1, none for a treatment the policy
// excluded, and an experiment, when there is one, with an id and an arm.
// The eligible treatments are the candidates (the treatments with a
// probability) the policy did not exclude: a fixed strategy gives
// probability 0 to eligible treatments it does not choose.
func decisionOf(sr *scoreAnswer) (decision, error) {
	d := decision{decisionID: sr.DecisionID, modelVersion: sr.ModelVersion, strategy: sr.Strategy}
	if e := sr.Experiment; e != nil && (e.ID != "" || e.Arm != "") {
		if e.ID == "" || e.Arm == "" {
			return d, fmt.Errorf("%w: experiment needs an id and an arm, got %q and %q", ErrContract, e.ID, e.Arm)
		}
		d.experiment, d.arm = e.ID, e.Arm
	}
	if sr.DecisionID == "" {
		return d, fmt.Errorf("%w: response has no decision_id", ErrContract)
	}
	t, ok := features.ParseTreatment(sr.Treatment)
	if !ok {
		return d, fmt.Errorf("%w: unknown treatment %q", ErrContract, sr.Treatment)
	}
	d.treatment = t
	sum := 0.0
	for name, p := range sr.Probabilities {
		pt, ok := features.ParseTreatment(name)
		if !ok {
			return d, fmt.Errorf("%w: probability for unknown treatment %q", ErrContract, name)
		}
		if !(p >= 0 && p <= 1) {
			return d, fmt.Errorf("%w: probability of %s is %g, not in [0, 1]", ErrContract, name, p)
		}
		if _, excluded := sr.Policy.Excluded[name]; excluded {
			if p != 0 {
				return d, fmt.Errorf("%w: %s is excluded by the policy but has probability %g", ErrContract, name, p)
			}
		} else {
			d.eligible = d.eligible.With(pt)
		}
		sum += p
	}
	if math.Abs(sum-1) > 1e-6 {
		return d, fmt.Errorf("%w: probabilities sum to %g, not 1", ErrContract, sum)
	}
	if !d.eligible.Has(t) || !(sr.Probabilities[sr.Treatment] > 0) {
		return d, fmt.Errorf("%w: chosen treatment %s has probability 0", ErrContract, t)
	}
	return d, nil
}

// excerpt returns the start of a response body for an error message.
func excerpt(b []byte) string {
	const n = 300
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

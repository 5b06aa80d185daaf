package simulation

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"situ/features"
)

// ReportFormatVersion is the format_version of the report JSON that
// WriteJSON writes and ReadReport reads.
const ReportFormatVersion = 1

// Report is the result of a run: one row per window and a summary. Every
// average is over the window's served contacts (those situ answered), so
// the served decisions, the oracle and each strategy are compared on the
// same contacts. Its JSON (WriteJSON, ReadReport) is what `situ sim --json`
// writes and cmd/situ-plot draws.
type Report struct {
	// FormatVersion is ReportFormatVersion in a report of this package.
	FormatVersion int `json:"format_version"`
	// Seed is the population seed (Config.Seed).
	Seed     uint64 `json:"population_seed"`
	Contacts int    `json:"contacts"`
	Window   int    `json:"window"`
	// Strategies names the fixed strategies in the order of
	// WindowReport.Strategies.
	Strategies []string       `json:"strategies"`
	Windows    []WindowReport `json:"windows"`
	Summary    Summary        `json:"summary"`
	Elapsed    time.Duration  `json:"elapsed_ns"`
	// World is the seed of the ground truth (0: the default world) and
	// WorldRules its rules; DriftAt, when not 0, is the contact from which
	// DriftWorld (its rules DriftRules) was the ground truth.
	World      uint64   `json:"world,omitzero"`
	WorldRules []string `json:"world_rules,omitzero"`
	DriftAt    int      `json:"drift_at,omitzero"`
	DriftWorld uint64   `json:"drift_world,omitzero"`
	DriftRules []string `json:"drift_rules,omitzero"`
	// Drift compares the served decisions with the oracle around the
	// change of world (absent without one).
	Drift *DriftSummary `json:"drift,omitzero"`
	// Experiments holds the ground truth of every experiment the served
	// decisions were in, by id (absent when none was).
	Experiments []ExperimentTruth `json:"experiments,omitempty"`
}

// JSON returns the report as indented JSON (what situ sim --json writes),
// byte for byte as encoding/json's MarshalIndent with a two-space indent
// writes it: nil lists as null, <, > and & escaped, the elapsed time in
// nanoseconds.
func (r *Report) JSON() ([]byte, error) {
	return json.Marshal(r, reportJSON)
}

var reportJSON = json.JoinOptions(
	jsontext.WithIndent("  "), json.FormatNilSliceAsNull(true),
	jsontext.EscapeForHTML(true), jsontext.EscapeForJS(true), json.Deterministic(true),
	json.WithMarshalers(json.MarshalToFunc(func(enc *jsontext.Encoder, d time.Duration) error {
		return enc.WriteToken(jsontext.Int(int64(d)))
	})),
)

// readReportJSON reads what reportJSON writes: the elapsed time in
// nanoseconds.
var readReportJSON = json.WithUnmarshalers(json.UnmarshalFromFunc(func(dec *jsontext.Decoder, d *time.Duration) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != '0' {
		return fmt.Errorf("elapsed_ns: expected a number, got %v", tok.Kind())
	}
	n, err := tok.Int()
	if err != nil {
		return fmt.Errorf("elapsed_ns: %w", err)
	}
	*d = time.Duration(n)
	return nil
}))

// WindowReport is one window of a run.
type WindowReport struct {
	Index int `json:"index"`
	// End is the number of contacts simulated up to the end of the window.
	End int `json:"end"`
	// Served contacts got a decision; Failed ones did not (5xx, 429,
	// timeouts, transport errors); PublishFailed were served but their
	// outcome could not be published.
	Served        int `json:"served"`
	Failed        int `json:"failed"`
	PublishFailed int `json:"publish_failed"`
	// Realised is the average reward of the drawn outcomes of the served
	// decisions.
	Realised float64 `json:"realised"`
	// Expected is the average expected reward of the served treatments
	// under the ground truth: the same decisions as Realised without the
	// noise of the outcome draws.
	Expected float64 `json:"expected"`
	// Oracle is the average expected reward of the best eligible treatment.
	Oracle float64 `json:"oracle"`
	// Strategies holds each fixed strategy's average expected reward on the
	// same contacts, in the order of Report.Strategies.
	Strategies []float64 `json:"strategies"`
	// Optimal is the share of served decisions that chose a treatment as
	// good as the oracle's.
	Optimal float64 `json:"optimal"`
	// Regret is Oracle − Expected; CumulativeRegret sums oracle − served
	// expected reward over every served contact up to the window's end.
	Regret           float64 `json:"regret"`
	CumulativeRegret float64 `json:"cumulative_regret"`
	// Mix is the share of each treatment among the served decisions, in
	// treatment order (fast_resolution, pamper_upsell, self_service).
	Mix [features.NumTreatments]float64 `json:"mix"`
	// ModelVersion is the highest model_version situ answered with.
	ModelVersion int64 `json:"model_version"`
}

// Summary compares the served decisions with the oracle and the fixed
// strategies over the last window.
type Summary struct {
	Served        int `json:"served"`
	Failed        int `json:"failed"`
	PublishFailed int `json:"publish_failed"`
	// LastFailure describes the last failed contact, if any.
	LastFailure string `json:"last_failure,omitempty"`
	// Served, oracle and best fixed strategy in the last window with
	// served contacts (expected rewards).
	LastServed float64 `json:"last_served"`
	LastOracle float64 `json:"last_oracle"`
	// OracleRatio is LastServed / LastOracle; 0 when LastOracle ≤ 0 (the
	// ratio means nothing then).
	OracleRatio float64 `json:"oracle_ratio"`
	// BestStrategy is the fixed strategy with the highest expected reward
	// in the last window, BestStrategyReward that reward, and
	// ServedMinusBest the served decisions' lead over it.
	BestStrategy       string  `json:"best_strategy"`
	BestStrategyReward float64 `json:"best_strategy_reward"`
	ServedMinusBest    float64 `json:"served_minus_best"`
	// CumulativeRegret is the regret over the whole run.
	CumulativeRegret float64 `json:"cumulative_regret"`
	// FirstModelVersion and LastModelVersion are the model versions of the
	// first and last windows.
	FirstModelVersion int64 `json:"first_model_version"`
	LastModelVersion  int64 `json:"last_model_version"`
}

// RecoveryTarget is the share of the new world's oracle a DriftSummary
// measures the recovery to.
const RecoveryTarget = 0.93

// DriftSummary is what a change of world did to the served decisions.
type DriftSummary struct {
	// Before is the oracle ratio (served / oracle expected reward) of the
	// last window that ends at or before the change; First that of the
	// first window after it; Last that of the last window.
	Before float64 `json:"before"`
	First  float64 `json:"first"`
	Last   float64 `json:"last"`
	// Recovered is the number of contacts after the change up to the end
	// of the first window (after it) whose ratio reached RecoveryTarget;
	// -1 when none did.
	Recovered int `json:"recovered"`
}

func ratio(wr *WindowReport) float64 {
	if wr.Oracle <= 0 {
		return 0
	}
	return wr.Expected / wr.Oracle
}

// drift summarises the windows around the change at contact at.
func drift(windows []WindowReport, window, at int) *DriftSummary {
	d := &DriftSummary{Recovered: -1}
	seen := false
	for k := range windows {
		wr := &windows[k]
		start := wr.End - window
		switch {
		case wr.End <= at:
			d.Before = ratio(wr)
		case start >= at:
			if !seen {
				d.First, seen = ratio(wr), true
			}
			if d.Recovered < 0 && ratio(wr) >= RecoveryTarget {
				d.Recovered = wr.End - at
			}
			d.Last = ratio(wr)
		}
	}
	if !seen {
		return nil
	}
	return d
}

// windowReport returns window k as accumulated so far. r.mu must be held.
func (r *runner) windowReport(k int) WindowReport {
	w := &r.windows[k]
	wr := WindowReport{
		Index:         k,
		End:           k*r.cfg.Window + r.windowSize(k),
		Served:        w.served,
		Failed:        w.failed,
		PublishFailed: w.publishFailed,
		Strategies:    make([]float64, len(w.strategies)),
		ModelVersion:  w.modelVersion,
	}
	if w.served > 0 {
		n := float64(w.served)
		wr.Realised = w.realised / n
		wr.Expected = w.expected / n
		wr.Oracle = w.oracle / n
		wr.Regret = wr.Oracle - wr.Expected
		wr.Optimal = float64(w.optimal) / n
		for i := range w.strategies {
			wr.Strategies[i] = w.strategies[i] / n
		}
		for t := range w.mix {
			wr.Mix[t] = float64(w.mix[t]) / n
		}
	}
	cum := 0.0
	for j := 0; j <= k; j++ {
		cum += r.windows[j].oracle - r.windows[j].expected
	}
	wr.CumulativeRegret = cum
	return wr
}

// report builds the report of the windows with finished contacts.
func (r *runner) report() *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := &Report{FormatVersion: ReportFormatVersion, Seed: r.cfg.Seed, Contacts: r.cfg.Contacts, Window: r.cfg.Window,
		World: r.cfg.World.Seed(), WorldRules: r.cfg.World.Rules()}
	if r.cfg.DriftAt > 0 {
		rep.DriftAt, rep.DriftWorld, rep.DriftRules = r.cfg.DriftAt, r.cfg.DriftWorld.Seed(), r.cfg.DriftWorld.Rules()
	}
	for _, s := range r.cfg.Strategies {
		rep.Strategies = append(rep.Strategies, s.Name)
	}
	rep.Experiments = r.experimentTruths()
	s := &rep.Summary
	s.LastFailure = r.lastFailure
	for k := range r.windows {
		if r.windows[k].done == 0 {
			break
		}
		wr := r.windowReport(k)
		rep.Windows = append(rep.Windows, wr)
		s.Served += wr.Served
		s.Failed += wr.Failed
		s.PublishFailed += wr.PublishFailed
		s.CumulativeRegret = wr.CumulativeRegret
		if wr.Served == 0 {
			continue
		}
		if s.FirstModelVersion == 0 {
			s.FirstModelVersion = wr.ModelVersion
		}
		s.LastModelVersion = wr.ModelVersion
		s.LastServed, s.LastOracle = wr.Expected, wr.Oracle
		s.OracleRatio = 0
		if wr.Oracle > 0 {
			s.OracleRatio = wr.Expected / wr.Oracle
		}
		s.BestStrategy, s.BestStrategyReward = "", math.Inf(-1)
		for i, v := range wr.Strategies {
			if v > s.BestStrategyReward {
				s.BestStrategy, s.BestStrategyReward = rep.Strategies[i], v
			}
		}
		if s.BestStrategy == "" {
			s.BestStrategyReward = 0
		}
		s.ServedMinusBest = wr.Expected - s.BestStrategyReward
	}
	if rep.DriftAt > 0 {
		rep.Drift = drift(rep.Windows, rep.Window, rep.DriftAt)
	}
	return rep
}

// WriteJSON writes the report as indented JSON (JSON), format_version
// first.
func (rep *Report) WriteJSON(w io.Writer) error {
	b, err := rep.JSON()
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// ErrNotAReport is returned by ReadReport for JSON that is not a report of
// ReportFormatVersion.
var ErrNotAReport = errors.New("not a situ sim report")

// ReadReport decodes a report written by WriteJSON. A document without
// format_version or of another version is refused with ErrNotAReport.
func ReadReport(r io.Reader) (*Report, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	var rep Report
	if err := json.Unmarshal(bytes.TrimSpace(data), &rep, readReportJSON); err != nil {
		return nil, fmt.Errorf("decode report: %w", err)
	}
	switch {
	case rep.FormatVersion == 0:
		return nil, fmt.Errorf("%w: no format_version (write it with situ sim --json FILE)", ErrNotAReport)
	case rep.FormatVersion != ReportFormatVersion:
		return nil, fmt.Errorf("%w: format_version %d, this build reads %d", ErrNotAReport, rep.FormatVersion, ReportFormatVersion)
	}
	return &rep, nil
}

// WriteText writes the report as a table, one row per window, followed by
// the summary.
func (rep *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"window", "contacts", "failed", "realised", "served", "oracle"}
	head = append(head, rep.Strategies...)
	head = append(head, "optimal", "cum_regret", "fast/pamper/self", "model")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, wr := range rep.Windows {
		row := []string{
			fmt.Sprint(wr.Index + 1), fmt.Sprint(wr.End), fmt.Sprint(wr.Failed),
			f3(wr.Realised), f3(wr.Expected), f3(wr.Oracle),
		}
		for _, v := range wr.Strategies {
			row = append(row, f3(v))
		}
		row = append(row,
			fmt.Sprintf("%.0f%%", 100*wr.Optimal),
			fmt.Sprintf("%.1f", wr.CumulativeRegret),
			fmt.Sprintf("%.0f/%.0f/%.0f%%", 100*wr.Mix[features.FastResolution], 100*wr.Mix[features.PamperUpsell], 100*wr.Mix[features.SelfService]),
			fmt.Sprint(wr.ModelVersion))
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	s := &rep.Summary
	var b strings.Builder
	fmt.Fprintf(&b, "\npopulation seed %d, %d contacts in windows of %d: %d served, %d failed, %d outcomes not published",
		rep.Seed, rep.Contacts, rep.Window, s.Served, s.Failed, s.PublishFailed)
	if rep.Elapsed > 0 {
		fmt.Fprintf(&b, ", %s", rep.Elapsed.Round(time.Millisecond))
	}
	b.WriteString("\n")
	if s.LastFailure != "" {
		fmt.Fprintf(&b, "last failure: %s\n", s.LastFailure)
	}
	ratio := "n/a (oracle ≤ 0)"
	if s.LastOracle > 0 {
		ratio = fmt.Sprintf("%.1f%%", 100*s.OracleRatio)
	}
	fmt.Fprintf(&b, "last window: served %s, oracle %s: %s of the oracle\n", f3(s.LastServed), f3(s.LastOracle), ratio)
	if s.BestStrategy != "" {
		verb := "trails"
		if s.ServedMinusBest > 0 {
			verb = "beats"
		}
		fmt.Fprintf(&b, "best fixed strategy %s %s: served %s it by %s\n", s.BestStrategy, f3(s.BestStrategyReward), verb, f3(math.Abs(s.ServedMinusBest)))
	}
	fmt.Fprintf(&b, "cumulative regret %.1f; model version %d → %d\n", s.CumulativeRegret, s.FirstModelVersion, s.LastModelVersion)
	if rep.World != 0 {
		fmt.Fprintf(&b, "world %d:\n", rep.World)
		for _, r := range rep.WorldRules {
			fmt.Fprintf(&b, "  %s\n", r)
		}
	}
	if rep.DriftAt > 0 {
		fmt.Fprintf(&b, "drift at contact %d to world %d:\n", rep.DriftAt, rep.DriftWorld)
		for _, r := range rep.DriftRules {
			fmt.Fprintf(&b, "  %s\n", r)
		}
	}
	if d := rep.Drift; d != nil {
		rec := "not within the run"
		if d.Recovered >= 0 {
			rec = fmt.Sprintf("after %d contacts", d.Recovered)
		}
		fmt.Fprintf(&b, "oracle ratio before the drift %.1f%%, first window after %.1f%%, last %.1f%%; %.0f%% reached %s\n",
			100*d.Before, 100*d.First, 100*d.Last, 100*RecoveryTarget, rec)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return rep.WriteExperiments(w)
}

func f3(x float64) string { return fmt.Sprintf("%.3f", x) }

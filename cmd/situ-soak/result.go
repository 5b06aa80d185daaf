package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat"
)

// loadSnapshot is loadCounts read once.
type loadSnapshot struct {
	OK, Status4xx, Status5xx, Other, Transport, Missed int64
}

func snapshotLoad(l *loadCounts) loadSnapshot {
	return loadSnapshot{OK: l.ok.Load(), Status4xx: l.status4xx.Load(), Status5xx: l.status5xx.Load(),
		Other: l.other.Load(), Transport: l.transport.Load(), Missed: l.missed.Load()}
}

// sentSnapshot is what the outcome sender did, read once.
type sentSnapshot struct {
	Planned                                                     [numKinds]int64
	HTTP202, HTTPRetry202, HTTP400, HTTP5xx, HTTPOther, HTTPErr int64
	// HTTPRefused are the 400s of outcomes whose decision id is outside
	// the reward window (too late, or an id situ never makes)
	HTTPRefused            int64
	KafkaWritten, KafkaErr int64
	KafkaByKind            [numKinds]int64
}

func snapshotSent(s *outcomeSender) sentSnapshot {
	var out sentSnapshot
	for k := range numKinds {
		out.Planned[k] = s.planned[k].Load()
		out.KafkaByKind[k] = s.kafkaByKind[k].Load()
	}
	out.HTTP202, out.HTTPRetry202, out.HTTP400, out.HTTP5xx = s.http202.Load(), s.httpRetry202.Load(), s.http400.Load(), s.http5xx.Load()
	out.HTTPOther, out.HTTPErr, out.HTTPRefused = s.httpOther.Load(), s.httpErr.Load(), s.httpRefused.Load()
	out.KafkaWritten, out.KafkaErr = s.kafkaWritten.Load(), s.kafkaErr.Load()
	return out
}

// fit is a least-squares line through the post-warm-up samples.
type fit struct {
	// Intercept in MiB at scoring start, Slope in MiB per minute.
	Intercept, Slope float64
	N                int
	// Min and Max of the fitted samples, MiB.
	Min, Max float64
}

// fitLine fits y (bytes) against t over the samples taken while scoring,
// at or after warmup.
func fitLine(samples []sample, warmup time.Duration, y func(sample) float64) fit {
	var xs, ys []float64
	f := fit{}
	for _, s := range samples {
		if !s.Scoring || s.At < warmup {
			continue
		}
		v := y(s) / mib
		xs = append(xs, s.At.Minutes())
		ys = append(ys, v)
		if f.N == 0 || v < f.Min {
			f.Min = v
		}
		if f.N == 0 || v > f.Max {
			f.Max = v
		}
		f.N++
	}
	if f.N >= 2 {
		f.Intercept, f.Slope = stat.LinearRegression(xs, ys, nil, false)
	}
	return f
}

// check is one pass/fail criterion and what was measured.
type check struct {
	Name   string
	OK     bool
	Detail string
}

// result is what the soak measured and concluded.
type result struct {
	cfg          config
	samples      []sample
	sampleErrors []string
	scored       time.Duration // how long scoring ran
	settled      time.Duration // how long the learner took to read the rest
	load         loadSnapshot
	sent         sentSnapshot
	final        learnerCounts
	start        learnerCounts // read once ready, before scoring
	alive        bool          // the child ran until the end
	stopErr      error
	p50All       time.Duration
	p99All       time.Duration
	rssFit       fit
	heapFit      fit
	goalFit      fit
	// warmup is the warm-up the fits start after: --warmup, or the first
	// steady sample and at least cfg.minWarmup
	warmup time.Duration
	// steadyAt is when the first steady sample was taken; -1: none was
	steadyAt time.Duration
	// procFits are the RSS and heap goal fits of each process
	procFits map[string][2]fit
	checks   []check
}

// minFitSamples is the fewest post-warm-up samples a memory verdict needs.
const minFitSamples = 6

// evaluate finds the steady state, fits the memory and runs the checks.
func (r *result) evaluate() {
	r.steadyAt = -1
	for _, s := range r.samples {
		if s.Scoring && s.Steady {
			r.steadyAt = s.At
			break
		}
	}
	r.warmup = r.cfg.warmup
	if r.warmup == 0 {
		r.warmup = max(r.cfg.minWarmup, r.steadyAt)
		if r.steadyAt < 0 {
			r.warmup = r.cfg.minWarmup // no fit is trusted then: the steady state check fails
		}
	}
	r.rssFit = fitLine(r.samples, r.warmup, func(s sample) float64 { return s.RSS })
	r.heapFit = fitLine(r.samples, r.warmup, func(s sample) float64 { return s.Heap })
	r.goalFit = fitLine(r.samples, r.warmup, func(s sample) float64 { return s.HeapGoal })
	r.procFits = map[string][2]fit{}
	for _, p := range procNames {
		r.procFits[p] = [2]fit{
			fitLine(r.samples, r.warmup, func(s sample) float64 { return s.Procs[p].RSS }),
			fitLine(r.samples, r.warmup, func(s sample) float64 { return s.Procs[p].HeapGoal }),
		}
	}
	r.checks = evaluateChecks(r)
}

// evaluateChecks returns the criteria of the soak, measured on r.
func evaluateChecks(r *result) []check {
	var cs []check
	add := func(name string, ok bool, format string, args ...any) {
		cs = append(cs, check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	f, l, s := r.final, r.load, r.sent
	issued := l.OK + l.Status4xx + l.Status5xx + l.Other + l.Transport

	add("process", r.alive && r.stopErr == nil, "ran to the end: %v; clean exit on SIGTERM: %v", r.alive, errText(r.stopErr))
	// A memory fit means something only over samples in which every
	// bounded structure is full: before, it measures the filling.
	last := r.samples[len(r.samples)-1:]
	switch {
	case r.steadyAt < 0:
		filling := "no sample"
		if len(last) > 0 {
			filling = strings.Join(last[0].Filling, ", ")
		}
		add("steady state", false, "never reached while scoring; still filling at the end: %s", filling)
	case r.warmup < r.steadyAt:
		add("steady state", false, "reached at %s, after the warm-up (%s): the fit includes the filling", r.steadyAt.Round(time.Second), r.warmup)
	default:
		add("steady state", r.steadyAt <= r.cfg.duration/2, "every bounded structure full at %s (at most half the run, %s); memory fitted after %s",
			r.steadyAt.Round(time.Second), r.cfg.duration/2, r.warmup.Round(time.Second))
	}
	memory := func(name string, ft fit) {
		add(name+" flat", ft.N >= minFitSamples && ft.Slope < r.cfg.maxSlope,
			"slope %+.3f MiB/min over %d samples after %s (bound %.2f MiB/min); %.1f–%.1f MiB",
			ft.Slope, ft.N, r.warmup.Round(time.Second), r.cfg.maxSlope, ft.Min, ft.Max)
	}
	memory("RSS", r.rssFit)
	memory("Go heap", r.heapFit)
	memory("Go heap goal", r.goalFit)
	where := ""
	if f.server5xxRoutes != "" {
		where = fmt.Sprintf(" (in all: %s; before scoring: %v, %s)", f.server5xxRoutes, r.start.server5xx, r.start.server5xxRoutes)
	}
	run5xx := f.server5xx - r.start.server5xx
	add("no 5xx", l.Status5xx == 0 && s.HTTP5xx == 0 && run5xx == 0,
		"score %d, outcomes %d (client side); %v on every route while scoring (situ_http_request_duration_seconds)%s", l.Status5xx, s.HTTP5xx, run5xx, where)
	add("every score answered", l.Transport == 0 && l.Other == 0 && l.Status4xx == 0,
		"%d of %d answered 200; %d transport errors, %d 4xx, %d other", l.OK, issued, l.Transport, l.Status4xx, l.Other)
	heldRate := float64(l.Missed) <= 0.001*float64(issued+l.Missed)
	add("rate held", heldRate, "%d requests due while all %d in flight (at most 0.1%%)", l.Missed, r.cfg.concurrency)
	add("no dropped decisions", f.dropped == 0, "situ_decisions_dropped_total %v", f.dropped)

	ok := float64(l.OK)
	decisionDups := max(0, f.decisionsRead-ok)
	add("decisions reach the learner", f.decisions == ok && f.decisionsRead == ok && f.decisionsInvalid == 0,
		"answered %d, situ_decisions_total %v, written %v, learner read %v (invalid %v)", l.OK, f.decisions, f.decisionsWritten, f.decisionsRead, f.decisionsInvalid)
	// a decision waits in the queue, then in the late tier, until its
	// every window closed, joined or not
	decSum := f.closed + f.droppedPending + f.droppedLate + f.pending + f.lateDecisions
	add("decisions accounted for", decSum == ok,
		"answered %d = windows closed %v (%v of them without outcome) + dropped (caps) %v + pending %v + in the late tier %v = %v", l.OK, f.closed, f.expired, f.droppedPending+f.droppedLate, f.pending, f.lateDecisions, decSum)

	produced := f.outcomesPublished + float64(s.KafkaWritten)
	add("outcomes reach the learner", f.outcomesRead == produced && s.KafkaErr == 0 && f.outcomePublishErrors == 0,
		"written %v (POST %v + Kafka %d), learner read %v; write errors: driver %d, situ %v", produced, f.outcomesPublished, s.KafkaWritten, f.outcomesRead, s.KafkaErr, f.outcomePublishErrors)
	outcomeDups := f.duplicate - decisionDups
	// each outcome written ends in one of these (a part joined with some
	// fields stale counts as joined and as stale: the soak sends none)
	notLooked := f.lateNotFound + f.lateNotUUID
	outSum := f.joined + outcomeDups + f.stale + f.late + notLooked + f.unknown + f.droppedEarly + f.early + f.dlqJSON + f.dlqInvalid
	add("outcomes accounted for", outSum == produced && f.dlqWriteErrors == 0,
		"written %v = joined %v + duplicate %v + stale %v + after the window %v + not found in the late tier %v + unknown decision %v + dropped (early cap) %v + waiting %v + dead-lettered %v = %v",
		produced, f.joined, outcomeDups, f.stale, f.late, notLooked, f.unknown, f.droppedEarly, f.early, f.dlqJSON+f.dlqInvalid, outSum)
	add("POST /v1/outcomes", s.HTTP202 == int64(f.outcomesPublished) && s.HTTPRetry202 == int64(f.dedupHTTP) &&
		s.HTTP400 == s.Planned[kindMalformedHTTP] && s.HTTPOther == 0 && s.HTTPErr == 0,
		"202 %d (written %v), retries 202 %d (de-duplicated %v), 400 %d of %d malformed, 400 %d outside the reward window, other %d, errors %d",
		s.HTTP202, f.outcomesPublished, s.HTTPRetry202, f.dedupHTTP, s.HTTP400, s.Planned[kindMalformedHTTP], s.HTTPRefused, s.HTTPOther, s.HTTPErr)
	add("dead letters", f.dlqJSON == float64(s.KafkaByKind[kindMalformedJSON]) && f.dlqInvalid == float64(s.KafkaByKind[kindInvalidOutcome]),
		"invalid_json %v of %d sent, invalid_outcome %v of %d sent", f.dlqJSON, s.KafkaByKind[kindMalformedJSON], f.dlqInvalid, s.KafkaByKind[kindInvalidOutcome])
	add("duplicates", outcomeDups == float64(s.Planned[kindDupKafka]) && decisionDups == 0,
		"duplicate outcomes %v of %d sent twice; duplicate decisions %v", outcomeDups, s.Planned[kindDupKafka], decisionDups)
	if len(r.sampleErrors) > 0 {
		add("sampling", false, "%d samples failed, the first: %s", len(r.sampleErrors), r.sampleErrors[0])
	}
	return cs
}

func errText(err error) string {
	if err == nil {
		return "true"
	}
	return "false (" + err.Error() + ")"
}

// passed reports whether every check passed.
func (r *result) passed() bool {
	for _, c := range r.checks {
		if !c.OK {
			return false
		}
	}
	return len(r.checks) > 0
}

// writeText writes the report.
func (r *result) writeText(w io.Writer) error {
	var b strings.Builder
	verdict := "PASS"
	if !r.passed() {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "situ soak: %s — %s at %.0f/s (%d answered), reward window %s, warm-up %s, %d samples every %s; the learner settled in %s\n",
		verdict, r.scored.Round(time.Second), r.cfg.rate, r.load.OK, r.cfg.window, r.warmup.Round(time.Second), len(r.samples), r.cfg.sample, r.settled.Round(time.Second))
	fmt.Fprintf(&b, "score latency (client side, whole run): p50 %.2f ms, p99 %.2f ms; per interval p99 max %.2f ms\n",
		ms(r.p50All), ms(r.p99All), ms(maxP99(r.samples)))
	fmt.Fprintf(&b, "memory after warm-up: RSS %.1f–%.1f MiB (slope %+.3f MiB/min), Go heap in use %.1f–%.1f MiB (slope %+.3f MiB/min), heap goal %.1f–%.1f MiB (slope %+.3f MiB/min)\n",
		r.rssFit.Min, r.rssFit.Max, r.rssFit.Slope, r.heapFit.Min, r.heapFit.Max, r.heapFit.Slope, r.goalFit.Min, r.goalFit.Max, r.goalFit.Slope)
	fmt.Fprintf(&b, "by process after warm-up:")
	for _, p := range procNames {
		f := r.procFits[p]
		fmt.Fprintf(&b, " %s RSS %.1f–%.1f MiB (%+.3f/min), heap goal %.1f–%.1f MiB (%+.3f/min);", p, f[0].Min, f[0].Max, f[0].Slope, f[1].Min, f[1].Max, f[1].Slope)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "outcome plan per decision:")
	for k := range numKinds {
		fmt.Fprintf(&b, " %s %d;", kindNames[k], r.sent.Planned[k])
	}
	b.WriteString("\n")
	for _, c := range r.checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "  %s %-28s %s\n", mark, c.Name, c.Detail)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func maxP99(samples []sample) time.Duration {
	var m time.Duration
	for _, s := range samples {
		if s.Scoring {
			m = max(m, s.P99)
		}
	}
	return m
}

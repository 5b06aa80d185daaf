package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/go-json-experiment/json"

	"situ/api"
	"situ/control"
	"situ/experiments"
)

// experimentsCommands are the subcommands of situ admin experiments.
var experimentsCommands = []struct {
	name, args, summary string
	run                 func(a *adminRun, args []string) error
}{
	{"create", "", "start an experiment: --file DEF.json (- for stdin) and/or --id, --arm ... flags", experimentsCreate},
	{"list", "", "list the experiments, running and stopped", experimentsList},
	{"show", "ID", "show one experiment's definition and state", experimentsShow},
	{"stop", "ID", "stop an experiment: everyone it took goes back to the learned strategy", experimentsStop},
	{"results", "ID", "show an experiment's results: per arm, per metric, per segment, and its guardrails", experimentsResults},
}

// adminExperiments dispatches situ admin experiments <subcommand>.
func adminExperiments(a *adminRun, args []string) error {
	names := make([]string, len(experimentsCommands))
	for i, c := range experimentsCommands {
		names[i] = c.name
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintf(a.stdout, "Usage: situ admin experiments <%s> [flags] [arguments]\n\n", strings.Join(names, "|"))
			for _, c := range experimentsCommands {
				fmt.Fprintf(a.stdout, "  %s %s\n      %s\n", c.name, c.args, c.summary)
			}
			return nil
		}
		return fmt.Errorf("%w: situ admin experiments needs a subcommand: %s", errUsage, strings.Join(names, ", "))
	}
	for _, c := range experimentsCommands {
		if c.name == args[0] {
			a.name, a.argsUsage, a.summary = "experiments "+c.name, c.args, c.summary
			return c.run(a, args[1:])
		}
	}
	return fmt.Errorf("%w: unknown subcommand %q of situ admin experiments; allowed: %s", errUsage, args[0], strings.Join(names, ", "))
}

// experimentPath is the admin API path of experiment id, with suffix
// ("/stop", "/results") when not empty.
func experimentPath(id, suffix string) string {
	return api.RouteAdminExperiments + "/" + url.PathEscape(id) + suffix
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, " ") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func experimentsCreate(a *adminRun, args []string) error {
	fs := a.flags(true)
	file := fs.String("file", "", "read the definition from `FILE` (JSON, the POST /v1/admin/experiments body without author and reason; - reads stdin); flags override its fields")
	fs.describeDefault("file", "none: the flags give the definition")
	id := fs.String("id", "", "the experiment's `ID` (a-z, 0-9, '.', '_', '-')")
	hypothesis := fs.String("hypothesis", "", "what the experiment is to show (`TEXT`)")
	var arms, guardrails stringList
	fs.Var(&arms, "arm", "an arm, `NAME=STRATEGY:WEIGHT` (repeat; the first is the control), e.g. control=learned:0.5 tiers=value_tier:0.5")
	var coverage optFloat
	fs.Var(&coverage, "coverage", "the `SHARE` of eligible customers in the experiment, in (0, 1]")
	fs.describeDefault("coverage", "1")
	seed := fs.String("seed", "", "the assignment hash's `SEED`")
	fs.describeDefault("seed", "the id")
	targeting := fs.String("targeting", "", "who is eligible: a `CONDITION` as service policy rules write one, e.g. \"channel == 'chat'\"")
	fs.describeDefault("targeting", "everyone")
	namespace := fs.String("namespace", "", "a namespace and the experiment's part of it, `ID:START:END`, e.g. checkout:0:0.5")
	fs.describeDefault("namespace", "none")
	fs.Var(&guardrails, "guardrail", "a guardrail, `METRIC:drop=X[:segments=tier,first_contact]` (rise=X for lower-is-better metrics; repeat)")
	onBreach := fs.String("on-breach", "", "what a guardrail breach does (`ACTION`): report or stop")
	fs.describeDefault("on-breach", "report")
	primary := fs.String("primary-metric", "", "the `METRIC` the experiment is decided on")
	fs.describeDefault("primary-metric", "reward")
	if _, err := a.parse(args, 0, 0); err != nil {
		return err
	}
	var d experiments.Definition
	if *file != "" {
		var (
			doc []byte
			err error
		)
		if *file == "-" {
			doc, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		} else {
			doc, err = os.ReadFile(*file)
		}
		if err != nil {
			return fmt.Errorf("read the definition: %w", err)
		}
		if err := json.Unmarshal(doc, &d, json.RejectUnknownMembers(true)); err != nil {
			return fmt.Errorf("%s: not an experiment definition: %w", *file, err)
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&d.ID, *id)
	set(&d.Hypothesis, *hypothesis)
	set(&d.Seed, *seed)
	set(&d.Targeting, *targeting)
	set(&d.OnBreach, *onBreach)
	set(&d.PrimaryMetric, *primary)
	if coverage.given {
		d.Coverage = coverage.v
	}
	if len(arms) > 0 {
		d.Arms = nil
		for _, s := range arms {
			arm, err := parseArm(s)
			if err != nil {
				return a.usage("--arm %q: %s", s, err)
			}
			d.Arms = append(d.Arms, arm)
		}
	}
	if *namespace != "" {
		ns, err := parseNamespace(*namespace)
		if err != nil {
			return a.usage("--namespace %q: %s", *namespace, err)
		}
		d.Namespace = &ns
	}
	if len(guardrails) > 0 {
		d.Guardrails = nil
		for _, s := range guardrails {
			g, err := parseGuardrail(s)
			if err != nil {
				return a.usage("--guardrail %q: %s", s, err)
			}
			d.Guardrails = append(d.Guardrails, g)
		}
	}
	if d.ID == "" {
		return a.usage("the experiment needs an id: --id ID, or \"id\" in --file")
	}
	if a.dryRun {
		return a.submit(control.Change{Experiments: &control.ExperimentsChange{Create: &d}})
	}
	b, err := a.do(http.MethodPost, api.RouteAdminExperiments, nil, api.ExperimentRequest{
		Definition: d, Author: a.author, Reason: a.reason, BaseVersion: a.baseVersion.ptr(),
	})
	if err != nil {
		return err
	}
	return a.printExperimentAnswer(b, "created")
}

// parseArm parses NAME=STRATEGY:WEIGHT.
func parseArm(s string) (experiments.Arm, error) {
	name, rest, ok := strings.Cut(s, "=")
	i := strings.LastIndex(rest, ":")
	if !ok || name == "" || i <= 0 {
		return experiments.Arm{}, fmt.Errorf("want NAME=STRATEGY:WEIGHT, e.g. control=learned:0.5")
	}
	w, err := strconv.ParseFloat(rest[i+1:], 64)
	if err != nil {
		return experiments.Arm{}, fmt.Errorf("the weight %q is not a number", rest[i+1:])
	}
	return experiments.Arm{Name: name, Strategy: rest[:i], Weight: w}, nil
}

// parseNamespace parses ID:START:END.
func parseNamespace(s string) (experiments.NamespaceSpec, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] == "" {
		return experiments.NamespaceSpec{}, fmt.Errorf("want ID:START:END, e.g. checkout:0:0.5")
	}
	var ns experiments.NamespaceSpec
	ns.ID = parts[0]
	for i, p := range parts[1:] {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return experiments.NamespaceSpec{}, fmt.Errorf("%q is not a number", p)
		}
		ns.Range[i] = v
	}
	return ns, nil
}

// parseGuardrail parses METRIC:drop=X[:segments=S,...] (or rise=X).
func parseGuardrail(s string) (experiments.Guardrail, error) {
	parts := strings.Split(s, ":")
	g := experiments.Guardrail{Metric: parts[0]}
	if g.Metric == "" || len(parts) < 2 {
		return g, fmt.Errorf("want METRIC:drop=X[:segments=tier,first_contact], e.g. resolved:drop=0.05")
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		switch k {
		case "drop", "rise":
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return g, fmt.Errorf("%s=%q is not a number", k, v)
			}
			if k == "drop" {
				g.MaxRelativeDrop = &x
			} else {
				g.MaxRelativeRise = &x
			}
		case "segments":
			g.Segments = strings.Split(v, ",")
		default:
			return g, fmt.Errorf("unknown part %q: give drop=X or rise=X, and segments=tier,first_contact", p)
		}
	}
	return g, nil
}

func experimentsList(a *adminRun, args []string) error {
	a.flags(false)
	if _, err := a.parse(args, 0, 0); err != nil {
		return err
	}
	var ans api.ExperimentsAnswer
	if table, err := a.fetch(api.RouteAdminExperiments, nil, &ans); !table {
		return err
	}
	fmt.Fprintf(a.stdout, "configuration version %d\n", ans.Version)
	if len(ans.Experiments) == 0 {
		fmt.Fprintln(a.stdout, "no experiments: situ admin experiments create starts one")
		return nil
	}
	rows := make([]string, len(ans.Experiments))
	for i, e := range ans.Experiments {
		arms := make([]string, len(e.Arms))
		for j, arm := range e.Arms {
			arms[j] = arm.Name + "=" + arm.Strategy + ":" + num(arm.Weight)
		}
		stopped := "-"
		if e.StoppedVersion != nil {
			stopped = strconv.FormatInt(*e.StoppedVersion, 10)
		}
		rows[i] = e.ID + "\t" + e.State + "\t" + strconv.FormatInt(e.CreatedVersion, 10) + "\t" + stopped + "\t" + e.PrimaryMetric + "\t" + strings.Join(arms, " ")
	}
	a.table("ID\tSTATE\tCREATED\tSTOPPED\tPRIMARY\tARMS", rows)
	return nil
}

func experimentsShow(a *adminRun, args []string) error {
	a.flags(false)
	pos, err := a.parse(args, 1, 1)
	if err != nil {
		return err
	}
	var ans api.ExperimentAnswer
	if table, err := a.fetch(experimentPath(pos[0], ""), nil, &ans); !table {
		return err
	}
	fmt.Fprintf(a.stdout, "configuration version %d\n", ans.Version)
	a.printExperiment(ans.Experiment)
	return nil
}

func experimentsStop(a *adminRun, args []string) error {
	a.flags(true)
	pos, err := a.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if a.dryRun {
		return a.submit(control.Change{Experiments: &control.ExperimentsChange{Stop: &control.ExperimentStop{ID: pos[0], By: a.author, Reason: a.reason}}})
	}
	b, err := a.do(http.MethodPost, experimentPath(pos[0], "/stop"), nil, api.ExperimentStopRequest{
		Author: a.author, Reason: a.reason, BaseVersion: a.baseVersion.ptr(),
	})
	if err != nil {
		return err
	}
	return a.printExperimentAnswer(b, "stopped")
}

// printExperimentAnswer prints b, the api.ExperimentAnswer of a create or
// a stop.
func (a *adminRun) printExperimentAnswer(b []byte, did string) error {
	if a.json {
		return a.printJSON(b)
	}
	var ans api.ExperimentAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		return fmt.Errorf("decode the answer: %w", err)
	}
	fmt.Fprintf(a.stdout, "experiment %s %s: version %d accepted (experiments), by %s: %s\n", ans.Experiment.ID, did, ans.Version, a.author, oneLine(a.reason))
	a.printExperiment(ans.Experiment)
	return nil
}

// printExperiment writes an experiment's definition and state.
func (a *adminRun) printExperiment(e api.ExperimentView) {
	w := a.stdout
	fmt.Fprintf(w, "experiment %s: %s\n", e.ID, e.State)
	if e.Hypothesis != "" {
		fmt.Fprintf(w, "hypothesis: %s\n", oneLine(e.Hypothesis))
	}
	fmt.Fprintf(w, "created: version %d%s\n", e.CreatedVersion, atTime(e.CreatedAt))
	if e.StoppedVersion != nil {
		at := ""
		if e.StoppedAt != nil {
			at = atTime(*e.StoppedAt)
		}
		fmt.Fprintf(w, "stopped: version %d%s", *e.StoppedVersion, at)
		if e.Stop != nil {
			fmt.Fprintf(w, " by %s: %s", e.Stop.By, oneLine(e.Stop.Reason))
		}
		fmt.Fprintln(w)
	}
	targeting := e.Targeting
	if targeting == "" {
		targeting = "everyone"
	}
	fmt.Fprintf(w, "primary metric: %s; on breach: %s\n", e.PrimaryMetric, e.OnBreach)
	fmt.Fprintf(w, "coverage %s, seed %q, targeting: %s", num(e.Coverage), e.Seed, targeting)
	if ns := e.Namespace; ns != nil {
		fmt.Fprintf(w, ", namespace %s [%s, %s)", ns.ID, num(ns.Range[0]), num(ns.Range[1]))
	}
	fmt.Fprintln(w)
	rows := make([]string, len(e.Arms))
	for i, arm := range e.Arms {
		role := ""
		if i == 0 {
			role = "control"
		}
		rows[i] = arm.Name + "\t" + arm.Strategy + "\t" + num(arm.Weight) + "\t" + role
	}
	a.table("ARM\tSTRATEGY\tWEIGHT\t", rows)
	if len(e.Guardrails) > 0 {
		rows = make([]string, len(e.Guardrails))
		for i, g := range e.Guardrails {
			bound := "-"
			switch {
			case g.MaxRelativeDrop != nil:
				bound = "drop at most " + percent(*g.MaxRelativeDrop)
			case g.MaxRelativeRise != nil:
				bound = "rise at most " + percent(*g.MaxRelativeRise)
			}
			segments := "overall"
			if len(g.Segments) > 0 {
				segments += ", per " + strings.Join(g.Segments, ", per ")
			}
			rows[i] = g.Metric + "\t" + bound + "\t" + segments
		}
		a.table("GUARDRAIL\tBOUND\tCHECKED", rows)
	}
	if e.Stop != nil && len(e.Stop.Evidence) > 0 {
		fmt.Fprintln(w, "evidence of the stop:")
		a.printGuardrails(e.Stop.Evidence)
	}
}

func atTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " at " + t.UTC().Format(time.RFC3339)
}

// percent formats a share as a percentage: 0.05 → "5%".
func percent(v float64) string { return strconv.FormatFloat(v*100, 'g', 4, 64) + "%" }

// signedPercent formats a relative lift: 0.02 → "+2.0%".
func signedPercent(v float64) string { return fmt.Sprintf("%+.1f%%", v*100) }

// pValue formats a p-value.
func pValue(p float64) string {
	if p < 0.0001 {
		return "<0.0001"
	}
	return strconv.FormatFloat(p, 'g', 3, 64)
}

// meanCI formats a mean and its interval.
func meanCI(m experiments.MetricResult) string {
	if m.Units == 0 {
		return "-"
	}
	return fmt.Sprintf("%.4g [%.4g, %.4g]", m.Mean, m.CI[0], m.CI[1])
}

func experimentsResults(a *adminRun, args []string) error {
	fs := a.flags(false)
	segment := fs.String("segment", "", "show every metric per value of one `SEGMENT`: tier or first_contact")
	fs.describeDefault("segment", "the primary metric per tier and per first contact")
	pos, err := a.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if *segment != "" && *segment != experiments.SegmentTier && *segment != experiments.SegmentFirstContact {
		return a.usage("--segment %q: allowed: tier, first_contact", *segment)
	}
	var r experiments.Results
	if table, err := a.fetch(experimentPath(pos[0], "/results"), nil, &r); !table {
		return err
	}
	a.printResults(r, *segment)
	return nil
}

// metricOrder is the primary metric, then the others in
// experiments.Metrics order, then any the results name besides.
func metricOrder(r experiments.Results) []string {
	out := []string{}
	if r.PrimaryMetric != "" {
		out = append(out, r.PrimaryMetric)
	}
	for _, m := range experiments.Metrics {
		if m != r.PrimaryMetric {
			out = append(out, m)
		}
	}
	var extra []string
	for _, arm := range r.Arms {
		for m := range arm.Metrics {
			if !slices.Contains(out, m) && !slices.Contains(extra, m) {
				extra = append(extra, m)
			}
		}
	}
	slices.Sort(extra)
	return append(out, extra...)
}

// segmentValues lists a segment's values in a reader's order: the tiers
// from basic up, true before false, anything else after, sorted.
func segmentValues(values map[string]experiments.SegmentResult) []string {
	known := []string{"basic", "silver", "gold", "platinum", "true", "false"}
	var out, rest []string
	for _, v := range known {
		if _, ok := values[v]; ok {
			out = append(out, v)
		}
	}
	for v := range values {
		if !slices.Contains(known, v) {
			rest = append(rest, v)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// printResults writes an experiment's results as tables: the SRM check,
// the arms' counts, every metric (the primary first), the segments (the
// primary metric per value of each, or every metric per value of
// segment) and the guardrails.
func (a *adminRun) printResults(r experiments.Results, segment string) {
	w := a.stdout
	asOf := "no results yet"
	if !r.AsOf.IsZero() {
		asOf = "as of " + r.AsOf.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "experiment %s: %s, %s: %d decisions, %d with outcomes; primary metric %s\n", r.ID, r.State, asOf, r.Decisions, r.Outcomes, r.PrimaryMetric)
	srm := "ok"
	if r.SRM.Mismatch {
		srm = "MISMATCH: the units per arm do not follow the weights; assignment or logging is broken, do not trust the lifts"
	}
	fmt.Fprintf(w, "sample ratio: p = %s, %s\n\n", pValue(r.SRM.PValue), srm)
	rows := make([]string, len(r.Arms))
	for i, arm := range r.Arms {
		rows[i] = arm.Name + "\t" + arm.Strategy + "\t" + strconv.FormatInt(arm.Units, 10) + "\t" + strconv.FormatInt(arm.Exposures, 10) + "\t" + strconv.FormatInt(arm.Joined, 10)
	}
	a.table("ARM\tSTRATEGY\tUNITS\tEXPOSURES\tJOINED", rows)
	var empty []string
	for _, m := range metricOrder(r) {
		if m != r.PrimaryMetric && !hasUnits(r.Arms, m) {
			empty = append(empty, m)
			continue
		}
		fmt.Fprintln(w)
		title := m
		if m == r.PrimaryMetric {
			title += " (primary)"
		}
		if experiments.LowerIsBetter(m) {
			title += ", lower is better"
		}
		fmt.Fprintln(w, title)
		a.metricTable(r.Arms, m)
	}
	if len(empty) > 0 {
		fmt.Fprintf(w, "\nno units yet: %s\n", strings.Join(empty, ", "))
	}
	for _, name := range []string{experiments.SegmentTier, experiments.SegmentFirstContact} {
		if segment != "" && name != segment {
			continue
		}
		values := r.Segments[name]
		fmt.Fprintln(w)
		if len(values) == 0 {
			fmt.Fprintf(w, "per %s: no units yet\n", name)
			continue
		}
		for i, v := range segmentValues(values) {
			arms := values[v].Arms
			metrics := []string{r.PrimaryMetric}
			if segment != "" {
				metrics = slices.DeleteFunc(metricOrder(r), func(m string) bool { return m != r.PrimaryMetric && !hasUnits(arms, m) })
			}
			for j, m := range metrics {
				if i > 0 || j > 0 {
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "%s=%s, %s\n", name, v, m)
				a.metricTable(arms, m)
			}
		}
	}
	guardrails := r.Guardrails
	if segment != "" {
		guardrails = slices.DeleteFunc(slices.Clone(guardrails), func(g experiments.GuardrailStatus) bool {
			return g.Segment != "" && !strings.HasPrefix(g.Segment, segment+"=")
		})
	}
	fmt.Fprintln(w)
	if len(guardrails) == 0 {
		fmt.Fprintln(w, "guardrails: none")
		return
	}
	fmt.Fprintln(w, "guardrails")
	a.printGuardrails(guardrails)
}

// hasUnits reports whether any of arms has a unit with metric.
func hasUnits(arms []experiments.ArmResult, metric string) bool {
	return slices.ContainsFunc(arms, func(a experiments.ArmResult) bool { return a.Metrics[metric].Units > 0 })
}

// metricTable writes one metric of arms: units, mean [ci], and against
// the control the lift % [ci] with its p-values.
func (a *adminRun) metricTable(arms []experiments.ArmResult, metric string) {
	rows := make([]string, len(arms))
	for i, arm := range arms {
		m := arm.Metrics[metric]
		lift, ci, p, holm, seq := "-", "-", "-", "-", "-"
		if l := m.Lift; l != nil {
			lift = signedPercent(l.Relative)
			ci = "[" + signedPercent(l.CI[0]) + ", " + signedPercent(l.CI[1]) + "]"
			p, holm, seq = pValue(l.PValue), pValue(l.PValueHolm), pValue(l.Sequential.PValue)
		} else if i == 0 {
			lift = "control"
		}
		rows[i] = arm.Name + "\t" + strconv.FormatInt(m.Units, 10) + "\t" + meanCI(m) + "\t" + lift + "\t" + ci + "\t" + p + "\t" + holm + "\t" + seq
	}
	a.table("ARM\tUNITS\tMEAN [95% CI]\tLIFT\t[95% CI]\tP\tHOLM P\tSEQ P", rows)
}

// printGuardrails writes guardrail statuses, breaches in capitals.
func (a *adminRun) printGuardrails(gs []experiments.GuardrailStatus) {
	rows := make([]string, len(gs))
	for i, g := range gs {
		segment := g.Segment
		if segment == "" {
			segment = "overall"
		}
		status := g.Status
		if status == experiments.GuardrailBreached {
			status = "BREACHED"
		}
		lift := "-"
		if g.Lift != nil {
			lift = signedPercent(*g.Lift) + " [" + boundPercent(g.CI[0]) + ", " + boundPercent(g.CI[1]) + "]"
		}
		rows[i] = g.Metric + "\t" + g.Arm + "\t" + segment + "\t" + status + "\t" + signedPercent(g.Bound) + "\t" + lift + "\t" + strconv.FormatInt(g.Units, 10) + "\t" + strconv.FormatInt(g.ControlUnits, 10)
	}
	a.table("METRIC\tARM\tSEGMENT\tSTATUS\tBOUND\tLIFT [SEQUENTIAL 95% CI]\tUNITS\tCONTROL UNITS", rows)
}

// boundPercent is signedPercent for an interval's end, which a one-sided
// interval leaves infinite.
func boundPercent(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	return signedPercent(v)
}

package simulation

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	json "github.com/go-json-experiment/json"

	"situ/experiments"
	"situ/features"
	"situ/models"
	"situ/policy"
)

// TruthConfig configures TruthStrategies. Zero fields take the documented
// defaults.
type TruthConfig struct {
	// Seed is the population seed (as Config.Seed). Default 0.
	Seed uint64
	// Customers is the size of the population. Default 10,000.
	Customers int
	// Contacts is the number of contacts, 0 … Contacts-1 of the
	// population, the strategies are evaluated on. Default 20,000.
	Contacts int
	// Reward scores the outcomes. Default models.DefaultReward().
	Reward *models.RewardDefinition
	// Policy gives each contact its eligible treatments (Apply with every
	// treatment a candidate). Default policy.Default().
	Policy *policy.Policy
	// Strategies are fixed experiment strategies (experiments.ParseStrategy).
	// Default TruthStrategyNames().
	Strategies []string
}

// TruthStrategyNames returns the fixed strategies TruthStrategies
// evaluates by default: value_tier, uniform, efficiency_first and
// delight_first.
func TruthStrategyNames() []string {
	return []string{experiments.NameValueTier, experiments.NameUniform, experiments.NameEfficiencyFirst, experiments.NameDelightFirst}
}

// OracleName names the oracle's row of a TruthReport: the best eligible
// treatment of each contact under the ground truth, the ceiling no
// strategy passes.
const OracleName = "oracle"

// TruthReport is what the ground truth says of fixed strategies on a
// population, without a situ: every figure is an exact expectation.
type TruthReport struct {
	Seed      uint64 `json:"population_seed"`
	Customers int    `json:"customers"`
	Contacts  int    `json:"contacts"`
	// Units is the number of distinct customers among the contacts;
	// DecisionsPerUnit[k] the number of them with k+1 contacts.
	Units            int   `json:"units"`
	DecisionsPerUnit []int `json:"decisions_per_unit"`
	// Strategies in the configured order, then the oracle (OracleName).
	Strategies []StrategyTruth `json:"strategies"`
	// Best is the strategy (the oracle aside) with the highest expected
	// reward over units (PerUnit.Reward), as an experiment's results
	// average it.
	Best string `json:"best"`
}

// StrategyTruth is one strategy's figures on all contacts, and the same
// by segment: "tier" → "basic" … "platinum", "first_contact" → "true",
// "false".
type StrategyTruth struct {
	Strategy string `json:"strategy"`
	TruthFigures
	Segments map[string]map[string]TruthFigures `json:"segments"`
}

// TruthFigures are the exact expectations of what a strategy serves to a
// group of contacts.
type TruthFigures struct {
	Contacts int `json:"contacts"`
	Units    int `json:"units"`
	// PerContact is the mean over the contacts; PerUnit the mean over
	// units of each unit's mean, as experiments' results average, and
	// PerUnitRewardSE the standard error of PerUnit.Reward over units.
	PerContact      Metrics `json:"per_contact"`
	PerUnit         Metrics `json:"per_unit"`
	PerUnitRewardSE float64 `json:"per_unit_reward_se"`
	// Mix is the share of contacts served each treatment, in treatment
	// order.
	Mix [features.NumTreatments]float64 `json:"mix"`
}

// Strategy returns the row of strategy name, or nil.
func (r *TruthReport) Strategy(name string) *StrategyTruth {
	for i := range r.Strategies {
		if r.Strategies[i].Strategy == name {
			return &r.Strategies[i]
		}
	}
	return nil
}

// Lift returns the relative difference of strategy's per-unit metric from
// baseline's, (strategy − baseline)/baseline, overall (segment "") or in
// one segment value ("tier", "gold"). It is false when either is missing,
// the metric is unknown or the baseline is 0.
func (r *TruthReport) Lift(strategy, baseline, metric, segment, value string) (float64, bool) {
	s, b := r.Strategy(strategy), r.Strategy(baseline)
	if s == nil || b == nil {
		return 0, false
	}
	sf, bf := s.TruthFigures, b.TruthFigures
	if segment != "" {
		var ok1, ok2 bool
		sf, ok1 = s.Segments[segment][value]
		bf, ok2 = b.Segments[segment][value]
		if !ok1 || !ok2 {
			return 0, false
		}
	}
	x, ok1 := sf.PerUnit.Get(metric)
	y, ok2 := bf.PerUnit.Get(metric)
	if !ok1 || !ok2 || y == 0 {
		return 0, false
	}
	return (x - y) / y, true
}

// Get returns the metric of that name (experiments.Metrics).
func (m *Metrics) Get(name string) (float64, bool) {
	switch name {
	case "reward":
		return m.Reward, true
	case "resolved":
		return m.Resolved, true
	case "csat":
		return m.CSAT, true
	case "upsell_accepted":
		return m.UpsellAccepted, true
	case "revenue":
		return m.Revenue, true
	case "handle_seconds":
		return m.HandleSeconds, true
	case "escalated":
		return m.Escalated, true
	case "recontact_7d":
		return m.Recontact7d, true
	case "churned":
		return m.Churned, true
	}
	return 0, false
}

// truthUnit accumulates one customer's contacts under every strategy.
type truthUnit struct {
	tier     string
	first    bool
	contacts int
	sums     []Metrics // per strategy, the oracle last
	mix      [][features.NumTreatments]int
}

// TruthStrategies evaluates fixed strategies on the population's first
// cfg.Contacts contacts under the ground truth, without a situ: for each
// contact the policy gives the eligible treatments, each strategy chooses
// among them as situ's experiments choose (experiments.Choose), and the
// exact expected metrics of the choice (Response.ExpectedMetrics) are
// averaged per contact and per unit. It is deterministic for a
// configuration.
func TruthStrategies(cfg TruthConfig) (*TruthReport, error) {
	if cfg.Contacts == 0 {
		cfg.Contacts = 20_000
	}
	if cfg.Contacts < 0 {
		return nil, fmt.Errorf("simulation: contacts must be positive, got %d", cfg.Contacts)
	}
	pop, err := NewPopulation(PopulationConfig{Seed: cfg.Seed, Customers: cfg.Customers})
	if err != nil {
		return nil, fmt.Errorf("simulation: %w", err)
	}
	if cfg.Reward == nil {
		def, err := models.DefaultReward()
		if err != nil {
			return nil, fmt.Errorf("simulation: %w", err)
		}
		cfg.Reward = &def
	}
	if err := cfg.Reward.Validate(); err != nil {
		return nil, fmt.Errorf("simulation: %w", err)
	}
	if cfg.Policy == nil {
		if cfg.Policy, err = policy.Default(); err != nil {
			return nil, fmt.Errorf("simulation: %w", err)
		}
	}
	if cfg.Strategies == nil {
		cfg.Strategies = TruthStrategyNames()
	}
	kinds := make([]experiments.StrategyKind, len(cfg.Strategies))
	for i, name := range cfg.Strategies {
		s, err := experiments.ParseStrategy(name)
		if err != nil {
			return nil, fmt.Errorf("simulation: strategy %d: %w", i, err)
		}
		if !s.Fixed() {
			return nil, fmt.Errorf("simulation: strategy %q is not a fixed rule: only situ can say what it serves", name)
		}
		kinds[i] = s.Kind
	}

	// contacts in parallel, each worker into its own units, merged after
	workers := min(runtime.GOMAXPROCS(0), max(1, cfg.Contacts/1000))
	parts := make([]map[string]*truthUnit, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[w], errs[w] = truthPart(pop, &cfg, kinds, w, workers)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	units := parts[0]
	for _, p := range parts[1:] {
		for id, u := range p {
			if v, ok := units[id]; ok {
				v.contacts += u.contacts
				for k := range v.sums {
					v.sums[k].add(&u.sums[k])
					for t := range v.mix[k] {
						v.mix[k][t] += u.mix[k][t]
					}
				}
			} else {
				units[id] = u
			}
		}
	}

	ids := make([]string, 0, len(units))
	for id := range units {
		ids = append(ids, id)
	}
	slices.Sort(ids) // a fixed order: sums do not depend on the scheduling
	ordered := make([]*truthUnit, len(ids))
	for i, id := range ids {
		ordered[i] = units[id]
	}
	rep := &TruthReport{Seed: cfg.Seed, Customers: pop.Customers(), Contacts: cfg.Contacts, Units: len(ordered)}
	for _, u := range ordered {
		for len(rep.DecisionsPerUnit) < u.contacts {
			rep.DecisionsPerUnit = append(rep.DecisionsPerUnit, 0)
		}
		rep.DecisionsPerUnit[u.contacts-1]++
	}
	names := append(slices.Clone(cfg.Strategies), OracleName)
	for k, name := range names {
		st := StrategyTruth{Strategy: name, TruthFigures: truthFigures(ordered, k), Segments: map[string]map[string]TruthFigures{
			experiments.SegmentTier:         truthSegments(ordered, k, func(u *truthUnit) string { return u.tier }),
			experiments.SegmentFirstContact: truthSegments(ordered, k, func(u *truthUnit) string { return strconv.FormatBool(u.first) }),
		}}
		rep.Strategies = append(rep.Strategies, st)
		if name != OracleName && (rep.Best == "" || st.PerUnit.Reward > rep.Strategy(rep.Best).PerUnit.Reward) {
			rep.Best = name
		}
	}
	return rep, nil
}

// truthPart evaluates contacts w, w+n, w+2n … into units by customer id.
func truthPart(pop *Population, cfg *TruthConfig, kinds []experiments.StrategyKind, w, n int) (map[string]*truthUnit, error) {
	units := map[string]*truthUnit{}
	ns := len(kinds) + 1
	for i := w; i < cfg.Contacts; i += n {
		c := pop.Contact(int64(i))
		res, err := cfg.Policy.Apply(&c, features.AllTreatments)
		if err != nil {
			return nil, fmt.Errorf("simulation: contact %d: %w", i, err)
		}
		var m [features.NumTreatments]Metrics
		for _, t := range features.Treatments() {
			if res.Eligible.Has(t) {
				resp := TrueResponse(&c, t)
				m[t] = resp.ExpectedMetrics(cfg.Reward)
			}
		}
		u := units[c.Customer.ID]
		if u == nil {
			u = &truthUnit{tier: c.Customer.Tier, first: c.Customer.FirstContact, sums: make([]Metrics, ns), mix: make([][features.NumTreatments]int, ns)}
			units[c.Customer.ID] = u
		}
		u.contacts++
		for k, kind := range kinds {
			t, ok := experiments.Choose(kind, &c, res.Eligible)
			if !ok {
				return nil, fmt.Errorf("simulation: contact %d: %s chose nothing among %s", i, cfg.Strategies[k], res.Eligible)
			}
			u.sums[k].add(&m[t])
			u.mix[k][t]++
		}
		var rewards [features.NumTreatments]float64
		for t := range m {
			rewards[t] = m[t].Reward
		}
		best, _ := Best(&rewards, res.Eligible)
		u.sums[ns-1].add(&m[best])
		u.mix[ns-1][best]++
	}
	return units, nil
}

// truthSegments groups units by key and sums up strategy k in each group.
func truthSegments(units []*truthUnit, k int, key func(*truthUnit) string) map[string]TruthFigures {
	groups := map[string][]*truthUnit{}
	for _, u := range units {
		groups[key(u)] = append(groups[key(u)], u)
	}
	out := make(map[string]TruthFigures, len(groups))
	for v, g := range groups {
		out[v] = truthFigures(g, k)
	}
	return out
}

// truthFigures sums up strategy k over units.
func truthFigures(units []*truthUnit, k int) TruthFigures {
	f := TruthFigures{Units: len(units)}
	var sum Metrics
	var mix [features.NumTreatments]int
	var rewards meanVar
	for _, u := range units {
		f.Contacts += u.contacts
		sum.add(&u.sums[k])
		um := u.sums[k].scaled(1 / float64(u.contacts))
		f.PerUnit.add(&um)
		rewards.add(um.Reward)
		for t := range mix {
			mix[t] += u.mix[k][t]
		}
	}
	if f.Contacts == 0 {
		return f
	}
	f.PerContact = sum.scaled(1 / float64(f.Contacts))
	f.PerUnit = f.PerUnit.scaled(1 / float64(f.Units))
	f.PerUnitRewardSE = rewards.se()
	for t := range mix {
		f.Mix[t] = float64(mix[t]) / float64(f.Contacts)
	}
	return f
}

// WriteText writes the report as tables: per strategy the expected reward
// and resolution rate (per contact and per unit), the resolution rate per
// tier and for first-contact customers (per unit) and the treatment mix;
// then, when uniform is among them, every strategy's relative change in
// resolution from uniform's, overall, per tier and for first-contact
// customers (per unit, as a guardrail on resolved sees it); then the
// decisions per unit.
func (r *TruthReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "ground truth of fixed strategies: population seed %d, %d customers, %d contacts, %d units, default policy eligibility\n\n",
		r.Seed, r.Customers, r.Contacts, r.Units)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"strategy", "reward", "unit_reward", "±se", "resolved", "unit_resolved"}
	for _, t := range tierOrder {
		head = append(head, "res_"+t)
	}
	head = append(head, "res_first")
	for _, t := range tierOrder {
		head = append(head, "reward_"+t)
	}
	head = append(head, "fast/pamper/self")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, s := range r.Strategies {
		row := []string{s.Strategy, f3(s.PerContact.Reward), f3(s.PerUnit.Reward), f3(s.PerUnitRewardSE),
			pct(s.PerContact.Resolved), pct(s.PerUnit.Resolved)}
		tiers := s.Segments[experiments.SegmentTier]
		for _, t := range tierOrder {
			row = append(row, truthCell(tiers, t, func(f TruthFigures) string { return pct(f.PerUnit.Resolved) }))
		}
		row = append(row, truthCell(s.Segments[experiments.SegmentFirstContact], "true", func(f TruthFigures) string { return pct(f.PerUnit.Resolved) }))
		for _, t := range tierOrder {
			row = append(row, truthCell(tiers, t, func(f TruthFigures) string { return f3(f.PerUnit.Reward) }))
		}
		row = append(row, fmt.Sprintf("%.0f/%.0f/%.0f%%", 100*s.Mix[features.FastResolution], 100*s.Mix[features.PamperUpsell], 100*s.Mix[features.SelfService]))
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write truth report: %w", err)
	}
	fmt.Fprintf(&b, "best fixed strategy on unit reward: %s\n", r.Best)

	if r.Strategy(experiments.NameUniform) != nil {
		b.WriteString("\nresolved relative to uniform (unit means, as a guardrail on resolved sees them)\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		head = []string{"strategy", "overall"}
		head = append(head, tierOrder...)
		head = append(head, "first_contact")
		fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
		lift := func(name, seg, v string) string {
			x, ok := r.Lift(name, experiments.NameUniform, "resolved", seg, v)
			if !ok {
				return "-"
			}
			return fmt.Sprintf("%+.1f%%", 100*x)
		}
		for _, s := range r.Strategies {
			if s.Strategy == experiments.NameUniform {
				continue
			}
			row := []string{s.Strategy, lift(s.Strategy, "", "")}
			for _, t := range tierOrder {
				row = append(row, lift(s.Strategy, experiments.SegmentTier, t))
			}
			row = append(row, lift(s.Strategy, experiments.SegmentFirstContact, "true"))
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write truth report: %w", err)
		}
	}

	b.WriteString("\ndecisions per unit:")
	for k, n := range r.DecisionsPerUnit {
		if n > 0 {
			fmt.Fprintf(&b, " %d: %d (%.1f%%)", k+1, n, 100*float64(n)/float64(r.Units))
		}
	}
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write truth report: %w", err)
	}
	return nil
}

// WriteJSON writes the report as indented JSON.
func (r *TruthReport) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r, reportJSON)
	if err != nil {
		return fmt.Errorf("encode truth report: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write truth report: %w", err)
	}
	return nil
}

func truthCell(seg map[string]TruthFigures, key string, f func(TruthFigures) string) string {
	g, ok := seg[key]
	if !ok || g.Units == 0 {
		return "-"
	}
	return f(g)
}

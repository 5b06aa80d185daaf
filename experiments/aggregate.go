package experiments

import (
	"time"

	"situ/models"
)

// NumMetrics is the number of metrics results report: len(Metrics).
const NumMetrics = 9

// Indices of Metrics.
const (
	MetricReward = iota
	MetricResolved
	MetricCSAT
	MetricUpsellAccepted
	MetricRevenue
	MetricHandleSeconds
	MetricEscalated
	MetricRecontact7d
	MetricChurned
)

// Values are one joined decision's values of every metric, in the order of
// Metrics; Present says which it has. A KPI is present when an outcome
// part reported its field (csat: a survey score, not "no survey"); the
// reward is present once any part arrived.
type Values struct {
	V       [NumMetrics]float64
	Present [NumMetrics]bool
}

// ValuesOf returns the values of an outcome, or of the latest value of
// each field a decision's parts reported so far (o.Missing names the
// others): the reward computed from it by the reward definition in effect,
// then its KPIs, booleans as 0 or 1. A field o does not hold is absent,
// not 0; csat is absent too when o holds it as null (no survey). The
// reward is always present: the caller computes it from what o holds.
func ValuesOf(o *models.Outcome, reward float64) Values {
	b := func(x bool) float64 {
		if x {
			return 1
		}
		return 0
	}
	v := Values{V: [NumMetrics]float64{
		reward, b(o.Resolved), 0, b(o.UpsellAccepted), o.Revenue, o.HandleSeconds,
		b(o.Escalated), b(o.Recontact7d), b(o.Churned),
	}}
	v.Present[MetricReward] = true
	for f := range models.OutcomeField(models.NumOutcomeFields) {
		v.Present[metricOfField[f]] = o.Holds(f)
	}
	if o.CSAT != nil {
		v.V[MetricCSAT] = *o.CSAT
	} else {
		v.Present[MetricCSAT] = false
	}
	return v
}

// metricOfField is the metric of each outcome field.
var metricOfField = [models.NumOutcomeFields]int{
	models.FieldResolved: MetricResolved, models.FieldCSAT: MetricCSAT, models.FieldUpsellAccepted: MetricUpsellAccepted,
	models.FieldRevenue: MetricRevenue, models.FieldHandleSeconds: MetricHandleSeconds, models.FieldEscalated: MetricEscalated,
	models.FieldRecontact7d: MetricRecontact7d, models.FieldChurned: MetricChurned,
}

// Exposure is a decision taken in an experiment: the unit (the keyed hash
// of the customer id) was served by arm Arm.
type Exposure struct {
	Experiment string
	Arm        string
	Unit       string
	// Tier and FirstContact are the customer's at the decision; a unit is
	// in the segments of its first decision in the arm.
	Tier         string
	FirstContact bool
	DecisionID   string
	Time         time.Time
}

// Observation is a decision of an experiment joined with its outcome.
type Observation struct {
	Experiment string
	Arm        string
	Unit       string
	DecisionID string
	Values     Values
}

// Segment values, in the order results list them: the tiers ("none" for a
// customer without one) and first contact.
var (
	TierValues         = []string{"basic", "silver", "gold", "platinum", "none"}
	FirstContactValues = []string{"true", "false"}
)

// Cells of an arm: the whole arm, then each tier, then each first-contact
// value.
const (
	cellAll      = 0
	cellTier     = 1
	cellFirst    = cellTier + 5
	numCells     = cellFirst + 2
	cellFCTrue   = cellFirst
	cellFCFalse  = cellFirst + 1
	tierNoneCell = cellTier + 4
)

func tierCell(tier string) int {
	for i, t := range TierValues[:4] {
		if t == tier {
			return cellTier + i
		}
	}
	return tierNoneCell
}

func firstContactCell(first bool) int {
	if first {
		return cellFCTrue
	}
	return cellFCFalse
}

// metricSums are one metric's sums over units in a cell: the number of
// units with a value, the sum of their unit means and of their squares.
type metricSums struct {
	n          int
	sum, sumSq float64
}

// cell is the aggregate of a set of units of one arm.
type cell struct {
	units, exposures, joined int64
	metrics                  [NumMetrics]metricSums
}

// unit is one unit's state in one arm: its segments (those of its earliest
// decision) and the sums and counts of its joined values per metric.
type unit struct {
	first     time.Time
	tier      int8 // cell index
	fc        int8 // cell index
	exposures int64
	joined    int64
	sum       [NumMetrics]float64
	n         [NumMetrics]int32
}

func (u *unit) mean(m int) float64 { return u.sum[m] / float64(u.n[m]) }

type armAgg struct {
	cells [numCells]cell
	units map[string]*unit
	// updates counts the changes of unit means since the cells' metric
	// sums were last taken afresh from the units (resum)
	updates int
}

type expAgg struct {
	decisions, outcomes int64
	arms                map[string]*armAgg
	version             uint64 // grows with every change
}

// Aggregator keeps the running results of experiments from their
// exposures and joined observations, incrementally: per unit the sums and
// counts of its values, per arm and segment the sums of the unit means and
// of their squares. Adding a value moves its unit's mean; the arm's sums
// lose the old mean and gain the new one, so Results never walks the
// units. A decision whose outcome arrives in parts is observed once, then
// replaced (ReplaceObservation) each time a part changes its values. The
// caller de-duplicates decisions and outcomes (the join does).
//
// The sums are float64, so every move of a mean rounds them once more;
// to keep that from piling up over a long experiment, an arm's cell sums
// are taken afresh from its units' means once the arm's means moved
// resumFactor × NumMetrics times per unit (amortised: one pass over the
// units per that many moves). A sum then holds at most that many
// roundings more than a fresh summation of the current unit means does:
// with every move on one metric, 144 per unit, about 144 × units × 2⁻⁵³
// of the magnitude of its terms (1.6·10⁻⁹ at 100,000 units); spread over
// the metrics as outcomes are, a ninth of it.
// It is not safe for concurrent use.
type Aggregator struct {
	exps map[string]*expAgg
}

// NewAggregator returns an empty aggregator.
func NewAggregator() *Aggregator { return &Aggregator{exps: map[string]*expAgg{}} }

func (a *Aggregator) exp(id string) *expAgg {
	e := a.exps[id]
	if e == nil {
		e = &expAgg{arms: map[string]*armAgg{}}
		a.exps[id] = e
	}
	return e
}

func (e *expAgg) arm(name string) *armAgg {
	ar := e.arms[name]
	if ar == nil {
		ar = &armAgg{units: map[string]*unit{}}
		e.arms[name] = ar
	}
	return ar
}

// Version returns a number that grows whenever experiment id's data
// changes (0: no data).
func (a *Aggregator) Version(id string) uint64 {
	if e := a.exps[id]; e != nil {
		return e.version
	}
	return 0
}

// Experiments returns the ids of the experiments with data.
func (a *Aggregator) Experiments() []string {
	ids := make([]string, 0, len(a.exps))
	for id := range a.exps {
		ids = append(ids, id)
	}
	return ids
}

// resumFactor is how many moves of unit means per unit and metric of an
// arm are summed incrementally before the arm's sums are taken afresh.
const resumFactor = 16

// AddExposure counts one decision of an experiment. A unit's first
// exposure in an arm makes it a unit of the arm, in the segments of that
// decision; an earlier decision read later moves it to that decision's
// segments. It returns the unit in the arm, which a caller holding the
// decision until its outcome arrives can give Observe and Replace instead
// of the unit's id.
func (a *Aggregator) AddExposure(x Exposure) UnitRef {
	e := a.exp(x.Experiment)
	e.decisions++
	e.version++
	ar := e.arm(x.Arm)
	tc, fc := int8(tierCell(x.Tier)), int8(firstContactCell(x.FirstContact))
	u, ok := ar.units[x.Unit]
	if !ok {
		u = &unit{first: x.Time, tier: tc, fc: fc}
		ar.units[x.Unit] = u
		for _, c := range [3]int{cellAll, int(tc), int(fc)} {
			ar.cells[c].units++
		}
	}
	if ok && x.Time.Before(u.first) {
		u.first = x.Time
		if u.tier != tc || u.fc != fc {
			ar.move(u, tc, fc)
		}
	}
	u.exposures++
	for _, c := range [3]int{cellAll, int(u.tier), int(u.fc)} {
		ar.cells[c].exposures++
	}
	return UnitRef{e: e, ar: ar, u: u}
}

// UnitRef is a unit of an arm of an experiment, as AddExposure returns it:
// valid as long as its Aggregator.
type UnitRef struct {
	e  *expAgg
	ar *armAgg
	u  *unit
}

// Observe adds the values of one joined decision of unit r: AddObservation
// without looking the unit up.
func (a *Aggregator) Observe(r UnitRef, values *Values) {
	r.e.outcomes++
	r.e.version++
	r.u.joined++
	r.ar.add(r.u, values)
}

// Replace replaces the values old of a decision of unit r observed before
// with values: ReplaceObservation without looking the unit up.
func (a *Aggregator) Replace(r UnitRef, old, values *Values) {
	r.e.version++
	r.ar.change(r.u, old, values)
}

// move takes u out of its segment cells and into tc and fc.
func (ar *armAgg) move(u *unit, tc, fc int8) {
	for _, pair := range [2][2]int8{{u.tier, tc}, {u.fc, fc}} {
		from, to := pair[0], pair[1]
		if from == to {
			continue
		}
		src, dst := &ar.cells[from], &ar.cells[to]
		src.units--
		dst.units++
		src.exposures -= u.exposures
		dst.exposures += u.exposures
		src.joined -= u.joined
		dst.joined += u.joined
		for m := range NumMetrics {
			if u.n[m] == 0 {
				continue
			}
			mean := u.mean(m)
			src.metrics[m].n--
			src.metrics[m].sum -= mean
			src.metrics[m].sumSq -= mean * mean
			dst.metrics[m].n++
			dst.metrics[m].sum += mean
			dst.metrics[m].sumSq += mean * mean
		}
	}
	u.tier, u.fc = tc, fc
}

// AddObservation adds one joined decision's values to its unit. An
// observation of a unit without an exposure in the arm (its decision was
// read, the exposure not counted) makes it a unit of the arm, in the
// segment "none" and first_contact "false".
func (a *Aggregator) AddObservation(o Observation) {
	e := a.exp(o.Experiment)
	e.outcomes++
	e.version++
	ar := e.arm(o.Arm)
	u := ar.unitOf(o.Unit)
	u.joined++
	ar.add(u, &o.Values)
}

// ReplaceObservation replaces the values old of a decision observed before
// (AddObservation) with o.Values: a later outcome part changed them. The
// unit's sums lose the old values and gain the new ones; the decision
// still counts once as joined. A metric absent from old and present in
// o.Values (a field that arrived with the part) adds a value to the unit;
// one present in both moves it.
func (a *Aggregator) ReplaceObservation(o Observation, old Values) {
	e := a.exp(o.Experiment)
	e.version++
	ar := e.arm(o.Arm)
	ar.change(ar.unitOf(o.Unit), &old, &o.Values)
}

// unitOf returns the arm's unit id, making it a unit of the arm (in the
// segment "none" and first_contact "false") when it is not one.
func (ar *armAgg) unitOf(id string) *unit {
	u := ar.units[id]
	if u == nil {
		u = &unit{tier: tierNoneCell, fc: cellFCFalse}
		ar.units[id] = u
		for _, c := range [3]int{cellAll, tierNoneCell, cellFCFalse} {
			ar.cells[c].units++
		}
	}
	return u
}

// add adds a joined decision's values to u (whose joined count the
// caller moved), moving u's means in its cells' sums: change without old
// values, the path of every first observation.
func (ar *armAgg) add(u *unit, values *Values) {
	cells := [3]int{cellAll, int(u.tier), int(u.fc)}
	for _, c := range cells {
		ar.cells[c].joined++
	}
	moved := 0
	for m := range NumMetrics {
		if !values.Present[m] {
			continue
		}
		had := u.n[m] > 0
		var before float64
		if had {
			before = u.mean(m)
		}
		u.sum[m] += values.V[m]
		u.n[m]++
		after := u.mean(m)
		for _, c := range cells {
			s := &ar.cells[c].metrics[m]
			if !had {
				s.n++
			}
			s.sum += after - before
			s.sumSq += after*after - before*before
		}
		moved++
	}
	ar.updates += moved
	if ar.updates > resumFactor*NumMetrics*len(ar.units)+1024 {
		ar.resum()
	}
}

// change takes a decision's values old (nil: none) out of u and adds
// values in, moving u's means in its cells' sums.
func (ar *armAgg) change(u *unit, old, values *Values) {
	cells := [3]int{cellAll, int(u.tier), int(u.fc)}
	for m := range NumMetrics {
		hadValue := old != nil && old.Present[m]
		if !hadValue && !values.Present[m] || hadValue && values.Present[m] && old.V[m] == values.V[m] {
			continue
		}
		had := u.n[m] > 0
		var before float64
		if had {
			before = u.mean(m)
		}
		if hadValue {
			u.sum[m] -= old.V[m]
			u.n[m]--
		}
		if values.Present[m] {
			u.sum[m] += values.V[m]
			u.n[m]++
		}
		has := u.n[m] > 0
		var after float64
		if has {
			after = u.mean(m)
		} else {
			u.sum[m] = 0 // no rounding left behind
		}
		for _, c := range cells {
			s := &ar.cells[c].metrics[m]
			switch {
			case has && !had:
				s.n++
			case had && !has:
				s.n--
			}
			s.sum += after - before
			s.sumSq += after*after - before*before
		}
		ar.updates++
	}
	if ar.updates > resumFactor*NumMetrics*len(ar.units)+1024 {
		ar.resum()
	}
}

// resum takes the cells' metric sums afresh from the units' means.
func (ar *armAgg) resum() {
	for c := range ar.cells {
		ar.cells[c].metrics = [NumMetrics]metricSums{}
	}
	for _, u := range ar.units {
		for m := range NumMetrics {
			if u.n[m] == 0 {
				continue
			}
			mean := u.mean(m)
			for _, c := range [3]int{cellAll, int(u.tier), int(u.fc)} {
				s := &ar.cells[c].metrics[m]
				s.n++
				s.sum += mean
				s.sumSq += mean * mean
			}
		}
	}
	ar.updates = 0
}

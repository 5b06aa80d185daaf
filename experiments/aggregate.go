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
// Metrics; Present says which it has (an outcome without a survey has no
// csat).
type Values struct {
	V       [NumMetrics]float64
	Present [NumMetrics]bool
}

// ValuesOf returns an outcome's values: the reward computed from it by the
// reward definition in effect, then its KPIs, booleans as 0 or 1. csat is
// absent when the outcome has none.
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
	for i := range v.Present {
		v.Present[i] = true
	}
	if o.CSAT != nil {
		v.V[MetricCSAT] = *o.CSAT
	} else {
		v.Present[MetricCSAT] = false
	}
	return v
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
// units. The caller de-duplicates decisions and outcomes (the join does).
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

// AddExposure counts one decision of an experiment. A unit's first
// exposure in an arm makes it a unit of the arm, in the segments of that
// decision; an earlier decision read later moves it to that decision's
// segments.
func (a *Aggregator) AddExposure(x Exposure) {
	e := a.exp(x.Experiment)
	e.decisions++
	e.version++
	ar := e.arm(x.Arm)
	tc, fc := int8(tierCell(x.Tier)), int8(firstContactCell(x.FirstContact))
	u := ar.units[x.Unit]
	if u == nil {
		u = &unit{first: x.Time, tier: tc, fc: fc}
		ar.units[x.Unit] = u
		for _, c := range [3]int{cellAll, int(tc), int(fc)} {
			ar.cells[c].units++
		}
	} else if x.Time.Before(u.first) {
		u.first = x.Time
		if u.tier != tc || u.fc != fc {
			ar.move(u, tc, fc)
		}
	}
	u.exposures++
	for _, c := range [3]int{cellAll, int(u.tier), int(u.fc)} {
		ar.cells[c].exposures++
	}
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
	u := ar.units[o.Unit]
	if u == nil {
		u = &unit{tier: tierNoneCell, fc: cellFCFalse}
		ar.units[o.Unit] = u
		for _, c := range [3]int{cellAll, tierNoneCell, cellFCFalse} {
			ar.cells[c].units++
		}
	}
	u.joined++
	cells := [3]int{cellAll, int(u.tier), int(u.fc)}
	for _, c := range cells {
		ar.cells[c].joined++
	}
	for m := range NumMetrics {
		if !o.Values.Present[m] {
			continue
		}
		had := u.n[m] > 0
		var old float64
		if had {
			old = u.mean(m)
		}
		u.sum[m] += o.Values.V[m]
		u.n[m]++
		mean := u.mean(m)
		for _, c := range cells {
			s := &ar.cells[c].metrics[m]
			if !had {
				s.n++
			}
			s.sum += mean - old
			s.sumSq += mean*mean - old*old
		}
	}
}

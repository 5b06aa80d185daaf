package control

import (
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"situ/features"
)

// Difference is one value that differs between two configurations. Before
// or After is nil when the value is absent on that side (a weight without
// override or pin, a lever of 0).
type Difference struct {
	// Path names the value: weights[fast_resolution][friction.wait_seconds]
	// (Before and After are then Weight entries), levers.pamper_upsell,
	// reward.weights.csat, reward.clip, policy, exploration.epsilon …
	Path   string `json:"path"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// Kind returns the part of the configuration d is in.
func (d Difference) Kind() Kind {
	if i := strings.IndexAny(d.Path, ".["); i >= 0 {
		return Kind(d.Path[:i])
	}
	return Kind(d.Path)
}

// Diff lists what differs from a to b: weights (by treatment, then
// feature), levers (by treatment), reward fields, policy, exploration
// fields, experiments (by id, in creation order) and frozen models (by
// version), in that order.
func Diff(a, b Config) []Difference {
	var out []Difference
	wa, wb := a.Weights, b.Weights
	for len(wa) > 0 || len(wb) > 0 {
		var before, after *Weight
		var path string
		switch {
		case len(wb) == 0 || (len(wa) > 0 && keyOf(wa[0]).compare(keyOf(wb[0])) < 0):
			before, path, wa = &wa[0], weightPath(wa[0]), wa[1:]
		case len(wa) == 0 || keyOf(wa[0]).compare(keyOf(wb[0])) > 0:
			after, path, wb = &wb[0], weightPath(wb[0]), wb[1:]
		default:
			before, after, path = &wa[0], &wb[0], weightPath(wa[0])
			wa, wb = wa[1:], wb[1:]
		}
		if before != nil && after != nil && reflect.DeepEqual(*before, *after) {
			continue
		}
		d := Difference{Path: path}
		if before != nil {
			d.Before = before.clone()
		}
		if after != nil {
			d.After = after.clone()
		}
		out = append(out, d)
	}
	for _, t := range leverNames(a.Levers, b.Levers) {
		va, oka := a.Levers[t]
		vb, okb := b.Levers[t]
		if oka == okb && va == vb {
			continue
		}
		d := Difference{Path: "levers." + t}
		if oka {
			d.Before = va
		}
		if okb {
			d.After = vb
		}
		out = append(out, d)
	}
	fa, fb := scalars(a), scalars(b)
	for i := range fa {
		if !reflect.DeepEqual(fa[i].value, fb[i].value) {
			out = append(out, Difference{Path: fa[i].path, Before: fa[i].value, After: fb[i].value})
		}
	}
	return append(out, experimentDiffs(a, b)...)
}

func weightPath(w Weight) string { return "weights[" + w.Treatment + "][" + w.Feature + "]" }

// leverNames lists the levers of a and b: treatments in index order, then
// any other name sorted.
func leverNames(a, b map[string]float64) []string {
	seen := map[string]bool{}
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	var out []string
	for _, t := range features.Treatments() {
		if seen[t.String()] {
			out = append(out, t.String())
			delete(seen, t.String())
		}
	}
	return append(out, slices.Sorted(maps.Keys(seen))...)
}

type scalar struct {
	path  string
	value any
}

// scalars lists the reward, policy and exploration fields of c in a fixed
// order.
func scalars(c Config) []scalar {
	r, w, x := c.Reward, c.Reward.Weights, c.Exploration
	return []scalar{
		{"reward.version", r.Version},
		{"reward.weights.resolved", w.Resolved},
		{"reward.weights.csat", w.CSAT},
		{"reward.weights.upsell_accepted", w.UpsellAccepted},
		{"reward.weights.revenue", w.Revenue},
		{"reward.weights.revenue_cap", w.RevenueCap},
		{"reward.weights.handle_seconds", w.HandleSeconds},
		{"reward.weights.escalated", w.Escalated},
		{"reward.weights.recontact_7d", w.Recontact7d},
		{"reward.weights.churned", w.Churned},
		{"reward.clip", r.Clip},
		{"policy", c.Policy},
		{"exploration.explorer", x.Explorer},
		{"exploration.epsilon", x.Epsilon},
		{"exploration.gamma0", x.Gamma0},
	}
}

// kinds lists the parts diffs touch, in Kind order.
func kinds(diffs []Difference) []Kind {
	out := []Kind{}
	for _, k := range []Kind{KindWeights, KindLevers, KindReward, KindPolicy, KindExploration, KindExperiments, KindFrozen} {
		for _, d := range diffs {
			if d.Kind() == k {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// restore returns the change that turns from into to: applied to from,
// it gives a configuration that encodes to the same bytes as to, except
// for the experiments and frozen models, which a rollback leaves as they
// are (an experiment is only started and stopped by name). Pins carry
// their value (at), so no learned model is read. It is empty when from
// and to are equal.
func restore(from, to Config) Change {
	var ch Change
	for _, d := range Diff(from, to) {
		switch d.Kind() {
		case KindWeights:
			var before, after Weight
			if d.Before != nil {
				before = d.Before.(Weight)
			}
			if d.After != nil {
				after = d.After.(Weight)
			}
			ch.Weights = append(ch.Weights, weightOps(before, after)...)
		case KindLevers:
			if ch.Levers == nil {
				ch.Levers = map[string]float64{}
			}
			name := strings.TrimPrefix(d.Path, "levers.")
			ch.Levers[name] = to.Levers[name] // 0 when absent: removes it
		case KindReward:
			r := to.Reward
			ch.Reward = &r
		case KindPolicy:
			p := to.Policy
			ch.Policy = &p
		case KindExploration:
			x := to.Exploration
			ch.Exploration = &ExplorationChange{Explorer: &x.Explorer, Epsilon: &x.Epsilon, Gamma0: &x.Gamma0}
		}
	}
	return ch
}

// weightOps turns one weight's entry from into to; a zero Weight is an
// absent entry.
func weightOps(from, to Weight) []WeightChange {
	t, f := to.Treatment, to.Feature
	if t == "" {
		t, f = from.Treatment, from.Feature
	}
	var ops []WeightChange
	if !reflect.DeepEqual(from.Set, to.Set) || !reflect.DeepEqual(from.Multiply, to.Multiply) {
		op := WeightChange{Treatment: t, Feature: f}
		switch {
		case to.Set != nil:
			op.Set = ptrClone(to.Set)
		case to.Multiply != nil:
			op.Multiply = ptrClone(to.Multiply)
		default:
			op.Clear = true
		}
		ops = append(ops, op)
	}
	if !reflect.DeepEqual(from.PinnedAt, to.PinnedAt) {
		op := WeightChange{Treatment: t, Feature: f}
		if to.PinnedAt != nil {
			op.Pin, op.At = true, ptrClone(to.PinnedAt)
		} else {
			op.Unpin = true
		}
		ops = append(ops, op)
	}
	return ops
}

// KindFrozen is the part of a configuration holding frozen models.
const KindFrozen Kind = "frozen_models"

// experimentDiffs lists the experiments (path experiments[<id>], Before
// and After experiments.Experiment) and frozen models
// (frozen_models[<version>], models.Snapshot) that differ from a to b.
func experimentDiffs(a, b Config) []Difference {
	var out []Difference
	ids := []string{}
	before := map[string]int{}
	for i, e := range a.Experiments {
		before[e.Definition.ID] = i
		ids = append(ids, e.Definition.ID)
	}
	after := map[string]int{}
	for i, e := range b.Experiments {
		after[e.Definition.ID] = i
		if _, ok := before[e.Definition.ID]; !ok {
			ids = append(ids, e.Definition.ID)
		}
	}
	for _, id := range ids {
		d := Difference{Path: "experiments[" + id + "]"}
		i, okA := before[id]
		j, okB := after[id]
		if okA && okB && reflect.DeepEqual(a.Experiments[i], b.Experiments[j]) {
			continue
		}
		if okA {
			d.Before = a.Experiments[i].Clone()
		}
		if okB {
			d.After = b.Experiments[j].Clone()
		}
		out = append(out, d)
	}
	versions := map[int64][2]int{}
	var order []int64
	for i, s := range a.Frozen {
		versions[s.Model.Version] = [2]int{i + 1, 0}
		order = append(order, s.Model.Version)
	}
	for i, s := range b.Frozen {
		v := versions[s.Model.Version]
		if v[0] == 0 {
			order = append(order, s.Model.Version)
		}
		v[1] = i + 1
		versions[s.Model.Version] = v
	}
	slices.Sort(order)
	for _, ver := range order {
		v := versions[ver]
		if v[0] > 0 && v[1] > 0 {
			continue // a frozen model never changes
		}
		d := Difference{Path: "frozen_models[" + strconv.FormatInt(ver, 10) + "]"}
		if v[0] > 0 {
			d.Before = a.Frozen[v[0]-1]
		}
		if v[1] > 0 {
			d.After = b.Frozen[v[1]-1]
		}
		out = append(out, d)
	}
	return out
}

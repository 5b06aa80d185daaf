package control

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"situ/experiments"
	"situ/features"
	"situ/models"
	"situ/policy"
)

func TestProposeVersions(t *testing.T) {
	env := testEnv(t)
	h := NewHistory(defaultConfig(t))
	steps := []struct {
		change Change
		kinds  []Kind
	}{
		{Change{Levers: map[string]float64{"pamper_upsell": -0.05}}, []Kind{KindLevers}},
		{Change{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Set: f(0.4)}}, Exploration: &ExplorationChange{Epsilon: f(0.03)}}, []Kind{KindWeights, KindExploration}},
		// the policy is given unchanged: only what differs is a kind
		{Change{Policy: s(string(policy.DefaultPolicyYAML())), Levers: map[string]float64{"self_service": 0.01}}, []Kind{KindLevers}},
	}
	for i, st := range steps {
		now := t0.Add(time.Duration(i) * time.Minute)
		r, err := h.Propose(st.change, "ana", "step", nil, now, env)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if r.Version != int64(i+1) || r.FormatVersion != FormatVersion || !r.Time.Equal(now) || r.Author != "ana" {
			t.Errorf("step %d: record %+v", i, r)
		}
		if strings.Join(kindStrings(r.Kinds), ",") != strings.Join(kindStrings(st.kinds), ",") {
			t.Errorf("step %d: kinds %v, want %v", i, r.Kinds, st.kinds)
		}
		prev, _ := h.At(int64(i))
		sameConfig(t, r.Before, prev)
		if v, cur := h.Current(); v != r.Version {
			t.Errorf("current version %d, want %d", v, r.Version)
		} else {
			sameConfig(t, cur, r.After)
		}
		if got, ok := h.Get(r.Version); !ok || got.Version != r.Version {
			t.Errorf("Get(%d) = %v, %v", r.Version, got.Version, ok)
		}
	}
	rs := h.Records()
	if len(rs) != 3 || rs[0].Version != 3 || rs[2].Version != 1 {
		t.Errorf("records not newest first: %d records", len(rs))
	}
	if _, ok := h.Get(0); ok {
		t.Error("Get(0): version 0 has no record")
	}
	if _, ok := h.At(4); ok {
		t.Error("At(4) of a history at version 3")
	}
	if c, ok := h.At(0); !ok {
		t.Error("At(0) missing")
	} else {
		sameConfig(t, c, defaultConfig(t))
	}
}

func kindStrings(ks []Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

func TestProposeRefuses(t *testing.T) {
	env := testEnv(t)
	lever := Change{Levers: map[string]float64{"pamper_upsell": -0.05}}
	tests := []struct {
		name           string
		author, reason string
		base           *int64
		stale          bool
		field          string
	}{
		{name: "stale base", author: "ana", reason: "r", base: i64(0), stale: true},
		{name: "base from the future", author: "ana", reason: "r", base: i64(7), stale: true},
		{name: "no author", reason: "r", base: i64(1), field: "author"},
		{name: "no reason", author: "ana", field: "reason"},
		{name: "author too long", author: strings.Repeat("a", MaxAuthorLength+1), reason: "r", field: "author"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistory(defaultConfig(t))
			if _, err := h.Propose(Change{Levers: map[string]float64{"self_service": 0.01}}, "bo", "first", nil, t0, env); err != nil {
				t.Fatal(err)
			}
			_, err := h.Propose(lever, tt.author, tt.reason, tt.base, t0, env)
			var stale *StaleError
			var fe *features.FieldError
			switch {
			case tt.stale:
				if !errors.As(err, &stale) || !errors.Is(err, ErrStale) || stale.Current != 1 || stale.Base != *tt.base {
					t.Errorf("error %v, want a StaleError with current 1 and base %d", err, *tt.base)
				}
			case !errors.As(err, &fe) || fe.Field != tt.field:
				t.Errorf("error %v, want a field error on %s", err, tt.field)
			}
			if v, _ := h.Current(); v != 1 {
				t.Errorf("version %d after a refused change, want 1", v)
			}
		})
	}
}

// Two changes made on the same base: exactly one applies.
func TestProposeConcurrentOnSameBase(t *testing.T) {
	env := testEnv(t)
	h := NewHistory(defaultConfig(t))
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			_, err := h.Propose(Change{Levers: map[string]float64{"pamper_upsell": -0.01 * float64(i+1)}}, "ana", "race", i64(0), t0, env)
			errs <- err
		}()
	}
	ok, stale := 0, 0
	for range 8 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, ErrStale):
			stale++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 || stale != 7 {
		t.Errorf("%d applied, %d stale; want 1 and 7", ok, stale)
	}
}

func TestAddReplay(t *testing.T) {
	env := testEnv(t)
	src := NewHistory(defaultConfig(t))
	for i, ch := range []Change{
		{Levers: map[string]float64{"pamper_upsell": -0.05}},
		{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "friction.wait_seconds", Pin: true}}},
		{Exploration: &ExplorationChange{Epsilon: f(0.04)}},
	} {
		if _, err := src.Propose(ch, "ana", "replay", nil, t0.Add(time.Duration(i)*time.Second), env); err != nil {
			t.Fatal(err)
		}
	}
	topic := src.Records() // newest first
	wire := func(r Record) Record {
		b, err := EncodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		d, err := DecodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	r1, r2, r3 := wire(topic[2]), wire(topic[1]), wire(topic[0])
	other := r2
	other.Reason = "someone else"

	tests := []struct {
		name    string
		add     []Record
		version int64
		errAt   int // index in add of the refused record, -1 for none
		check   func(error) bool
	}{
		{name: "in order", add: []Record{r1, r2, r3}, version: 3, errAt: -1},
		{name: "again, idempotent", add: []Record{r1, r2, r1, r2, r3, r3}, version: 3, errAt: -1},
		{name: "gap", add: []Record{r1, r3}, version: 1, errAt: 1, check: func(err error) bool {
			var g *GapError
			return errors.As(err, &g) && g.Current == 1 && g.Got == 3
		}},
		{name: "first record missing", add: []Record{r2}, version: 0, errAt: 0, check: func(err error) bool {
			var g *GapError
			return errors.As(err, &g)
		}},
		{name: "another record at a taken version", add: []Record{r1, r2, other}, version: 2, errAt: 2, check: func(err error) bool { return errors.Is(err, ErrConflict) }},
		{name: "before is not the current configuration", add: []Record{r1, func() Record { r := r2; r.Before = r.After; return r }()}, version: 1, errAt: 1,
			check: func(err error) bool { return errors.Is(err, ErrConflict) }},
		{name: "unknown format", add: []Record{func() Record { r := r1; r.FormatVersion = 2; return r }()}, version: 0, errAt: 0,
			check: func(err error) bool { return err != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistory(defaultConfig(t))
			for i, r := range tt.add {
				err := h.Add(r)
				switch {
				case i == tt.errAt && (err == nil || !tt.check(err)):
					t.Errorf("add %d: error %v", i, err)
				case i != tt.errAt && err != nil:
					t.Errorf("add %d: %v", i, err)
				}
				if i == tt.errAt {
					break
				}
			}
			if v, cur := h.Current(); v != tt.version {
				t.Errorf("version %d, want %d", v, tt.version)
			} else {
				want, _ := src.At(v)
				sameConfig(t, cur, want)
			}
		})
	}
}

// The proposer reads its own record back from the topic: no effect.
func TestAddOwnRecord(t *testing.T) {
	env := testEnv(t)
	h := NewHistory(defaultConfig(t))
	r, err := h.Propose(Change{Levers: map[string]float64{"pamper_upsell": -0.05}}, "ana", "own", nil, t0.In(time.FixedZone("CET", 3600)), env)
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Add(back); err != nil {
		t.Errorf("add own record: %v", err)
	}
	if v, _ := h.Current(); v != 1 {
		t.Errorf("version %d, want 1", v)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	env := testEnv(t)
	h := NewHistory(defaultConfig(t))
	if _, err := h.Propose(Change{
		Weights: []WeightChange{
			{Treatment: "fast_resolution", Feature: "friction.wait_seconds", Set: f(0.1), Pin: true},
			{Treatment: "pamper_upsell", Feature: "bias", Multiply: f(0.5)},
			{Treatment: "self_service", Feature: "intent=order_status", Pin: true},
		},
		Levers:      map[string]float64{"pamper_upsell": -0.05, "self_service": 0.02},
		Exploration: &ExplorationChange{Explorer: s("epsilon-greedy"), Epsilon: f(0.1)},
	}, "ana", "all parts", nil, t0, env); err != nil {
		t.Fatal(err)
	}
	r, err := h.ProposeRollback(0, "ana", "back", i64(1), t0.Add(time.Hour), env)
	if err != nil {
		t.Fatal(err)
	}
	if r.RollbackOf == nil || *r.RollbackOf != 0 {
		t.Errorf("rollback_of %v, want 0", r.RollbackOf)
	}
	for _, rec := range h.Records() {
		b, err := EncodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeRecord(b)
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		b2, err := EncodeRecord(back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, b2) {
			t.Errorf("round trip changed the record\n got %s\nwant %s", b2, b)
		}
		for _, name := range []string{`"version":`, `"author":`, `"reason":`, `"time":`, `"kinds":`, `"change":`, `"before":`, `"after":`, `"format_version":1`} {
			if !bytes.Contains(b, []byte(name)) {
				t.Errorf("record without %s: %s", name, b)
			}
		}
		if rec.RollbackOf == nil && bytes.Contains(b, []byte(`"rollback_of"`)) {
			t.Errorf("rollback_of on a record that is no rollback: %s", b)
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	env := testEnv(t)
	h := NewHistory(defaultConfig(t))
	r, err := h.Propose(Change{Levers: map[string]float64{"pamper_upsell": -0.05}}, "ana", "strict", nil, t0, env)
	if err != nil {
		t.Fatal(err)
	}
	good, err := EncodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data string
		ok   bool
	}{
		{"the record", string(good), true},
		{"unknown member", strings.Replace(string(good), `{"format_version":1,`, `{"format_version":1,"extra":true,`, 1), false},
		{"unknown member in the change", strings.Replace(string(good), `"change":{`, `"change":{"lever":{},`, 1), false},
		{"unknown member in a configuration", strings.Replace(string(good), `"after":{`, `"after":{"colour":"red",`, 1), false},
		{"duplicate member", strings.Replace(string(good), `{"format_version":1,`, `{"format_version":1,"format_version":1,`, 1), false},
		{"trailing data", string(good) + " {}", false},
		{"null", "null", false},
		{"empty", "", false},
		{"format version 2", strings.Replace(string(good), `"format_version":1`, `"format_version":2`, 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRecord([]byte(tt.data))
			if (err == nil) != tt.ok {
				t.Errorf("error %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if _, err := DecodeChange([]byte(`{"weights":[{"treatment":"fast_resolution","feature":"bias","sett":1}]}`)); err == nil {
		t.Error("DecodeChange accepted an unknown member")
	}
	ch, err := DecodeChange([]byte(`{"weights":[{"treatment":"fast_resolution","feature":"bias","set":0.2,"pin":true}],"levers":{"pamper_upsell":-0.05},"policy":"version: 1","exploration":{"explorer":"squarecb","epsilon":0.03,"gamma0":50}}`))
	if err != nil {
		t.Fatalf("DecodeChange of the contract's example: %v", err)
	}
	if !ch.Weights[0].Pin || *ch.Weights[0].Set != 0.2 || ch.Levers["pamper_upsell"] != -0.05 || *ch.Exploration.Gamma0 != 50 || *ch.Policy != "version: 1" {
		t.Errorf("decoded %+v", ch)
	}
}

func TestDefaultIsValid(t *testing.T) {
	env := testEnv(t)
	a, err := Compile(defaultConfig(t), env)
	if err != nil {
		t.Fatal(err)
	}
	eff, err := EffectiveModel(env.Model, a)
	if err != nil || eff != env.Model {
		t.Errorf("effective model of the default configuration is not the learned one (%v)", err)
	}
	r, _ := models.DefaultReward()
	if a.Reward != r {
		t.Errorf("reward %+v", a.Reward)
	}
}

// TestRecordKeepsExperimentsChange checks that a record's change holds
// the experiment it started or stopped, as the audit trail shows it.
func TestRecordKeepsExperimentsChange(t *testing.T) {
	env := testEnv(t)
	h := NewHistory(defaultConfig(t))
	def := experiments.Definition{ID: "a", Arms: []experiments.Arm{{Name: "control", Strategy: "learned", Weight: 0.5}, {Name: "b", Strategy: "uniform", Weight: 0.5}}}
	lift := -0.2
	evidence := []experiments.GuardrailStatus{{Metric: "resolved", Arm: "b", Status: experiments.GuardrailBreached, Bound: -0.05, Lift: &lift}}
	for i, ch := range []ExperimentsChange{
		{Create: &def},
		{Stop: &ExperimentStop{ID: "a", By: "situ-guardrails", Reason: "guardrail breached", Evidence: evidence}},
	} {
		r, err := h.Propose(Change{Experiments: &ch}, "ana", "step", nil, t0, env)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got, _ := h.Get(r.Version)
		for _, rec := range []Record{r, got} {
			x := rec.Change.Experiments
			switch {
			case x == nil:
				t.Fatalf("step %d: the record's change lost its experiments part", i)
			case ch.Create != nil && (x.Create == nil || x.Create.ID != "a"):
				t.Errorf("step %d: create %+v", i, x.Create)
			case ch.Stop != nil && (x.Stop == nil || x.Stop.By != "situ-guardrails" || len(x.Stop.Evidence) != 1 || *x.Stop.Evidence[0].Lift != lift):
				t.Errorf("step %d: stop %+v", i, x.Stop)
			}
		}
	}
}

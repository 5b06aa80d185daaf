package scoring_test

import (
	"bytes"
	"context"
	"math"
	"reflect"
	"testing"
	"time"

	json "github.com/go-json-experiment/json"

	"situ/features"
	"situ/internal/custhash"
	"situ/models"
	"situ/policy"
	"situ/scoring"
)

// TestAppendEventJSONDecodesToEvent: what AppendEventJSON appends decodes
// strictly into exactly the event that Event returns, and the event holds
// what the decision decided.
func TestAppendEventJSONDecodesToEvent(t *testing.T) {
	spec := mustDefaultPolicy(t).Spec()
	spec.UniformMode = true
	uniform, err := policy.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	decide := func(pol *policy.Policy, edit func(r *scoring.Request)) func(t *testing.T) scoring.Decision {
		return func(t *testing.T) scoring.Decision {
			req := realisticRequest()
			edit(&req)
			d, err := newTestEngine(t, pol).Decide(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	cases := []struct {
		name     string
		decision func(t *testing.T) scoring.Decision
	}{
		{"contract example: treatments excluded", decide(nil, func(*scoring.Request) {})},
		{"entitlements", decide(nil, func(r *scoring.Request) {
			r.Context.Customer.AnnualSpend = 9000
			r.Context.Friction = features.Friction{WaitSeconds: 900}
			r.Context.Intent.Name = "general_question"
		})},
		{"no rule fired", decide(nil, func(r *scoring.Request) {
			r.Treatments = features.AllTreatments.Without(features.PamperUpsell)
			r.Context.Friction = features.Friction{}
			r.Context.Intent.Name = "order_status"
		})},
		{"uniform mode", decide(uniform, func(r *scoring.Request) {
			r.Context.Friction = features.Friction{}
			r.Context.Intent.Name = "upgrade_inquiry"
		})},
		{"no model, no policy, awkward strings and numbers", func(*testing.T) scoring.Decision {
			return scoring.Decision{
				ID:            "id \"quoted\" \\ <html> & \n\t\x01 \u2028 é",
				Time:          time.Date(2026, 11, 23, 13, 0, 0, 123456789, time.FixedZone("CET", 3600)),
				Treatment:     features.SelfService,
				Candidates:    1 << features.SelfService,
				Eligible:      1 << features.SelfService,
				Probabilities: [features.NumTreatments]float64{features.SelfService: 1},
				Propensity:    1,
				Strategy:      "fallback",
				Explorer:      "",
				Uniform:       true,
				Features:      []features.Entry{{Index: 0, Value: 1e-9}, {Index: 1, Value: -3.5e22}, {Index: 2, Value: 0.1}, {Index: 7, Value: -0}},
			}
		}},
		{"levers", func(t *testing.T) scoring.Decision {
			e := newTestEngine(t, nil)
			if err := e.Update(func(b scoring.Bundle) (scoring.Bundle, error) {
				b.Levers = [features.NumTreatments]float64{features.PamperUpsell: -0.05, features.SelfService: 0.2}
				return b, nil
			}); err != nil {
				t.Fatal(err)
			}
			req := realisticRequest()
			req.Treatments = features.AllTreatments.Without(features.SelfService)
			d, err := e.Decide(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}},
	}
	hashers := []struct {
		name string
		ids  *custhash.Hasher
	}{{"with a customer-id key", newTestHasher(t)}, {"without a key", nil}}
	for _, tc := range cases {
		for _, h := range hashers {
			t.Run(tc.name+"/"+h.name, func(t *testing.T) {
				checkEvent(t, tc.decision(t), h.ids)
			})
		}
	}
}

// checkEvent checks that d's encoded event decodes into d.Event(ids) and
// holds what d decided.
func checkEvent(t *testing.T, d scoring.Decision, ids *custhash.Hasher) {
	t.Helper()
	prefix := []byte("kept")
	b, err := d.AppendEventJSON(prefix, ids)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:len(prefix)]) != "kept" {
		t.Fatalf("dst overwritten: %q", b)
	}
	got, err := models.DecodeDecisionEvent(b[len(prefix):], json.RejectUnknownMembers(true))
	if err != nil {
		t.Fatalf("%v in %s", err, b[len(prefix):])
	}
	want := d.Event(ids)
	if !got.Time.Equal(want.Time) {
		t.Errorf("time %s, want %s", got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if len(want.Features) == 0 {
		want.Features = got.Features // nil encodes as [], as json.Marshal writes it
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%+v\nwant d.Event()\n%+v", got, want)
	}
	for _, tr := range features.Treatments() {
		if got.Probabilities.P[tr] != d.Probabilities[tr] || got.Probabilities.Of.Has(tr) != d.Eligible.Has(tr) {
			t.Errorf("probability of %s: %v in the event, decision %v (eligible %s)", tr, got.Probabilities, d.Probabilities, d.Eligible)
		}
	}
	if got.Treatment != d.Treatment.String() || features.TreatmentSet(got.Eligible) != d.Eligible ||
		features.TreatmentSet(got.Candidates) != d.Candidates || !reflect.DeepEqual(got.Rules, d.RuleIDs(nil)) {
		t.Errorf("event %+v does not carry the decision's treatment, sets and rules", got)
	}
	for _, tr := range features.Treatments() {
		if got.Levers[tr] != d.Levers[tr] {
			t.Errorf("lever of %s: %v in the event, want %v", tr, got.Levers[tr], d.Levers[tr])
		}
	}
	switch {
	case ids == nil && got.Context != nil:
		t.Errorf("without a key the event carries a context: %s", b)
	case ids != nil && (got.Context == nil) != (d.Context == nil):
		t.Errorf("with a key the event carries a context %v, the decision %v: %s", got.Context != nil, d.Context != nil, b)
	case ids != nil && d.Context != nil:
		wantCtx := *d.Context
		wantCtx.Customer.ID = custhash.HashCustomerID(testKey, d.Context.Customer.ID)
		if !reflect.DeepEqual(*got.Context, wantCtx) {
			t.Errorf("context %+v, want the decision's with the hashed id %+v", *got.Context, wantCtx)
		}
	}
}

// TestEventNeverCarriesTheClearCustomerID: whatever the key, the bytes of
// a decision event never hold the customer id the request sent, while
// the context's other members are there.
func TestEventNeverCarriesTheClearCustomerID(t *testing.T) {
	cases := []struct {
		name string
		id   string
		ids  *custhash.Hasher
	}{
		{"usual id, with a key", "c-1842", newTestHasher(t)},
		{"usual id, without a key", "c-1842", nil},
		{"id that looks like a hash, with a key", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", newTestHasher(t)},
		{"unicode id, with a key", "client-é-日本", newTestHasher(t)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := realisticRequest()
			req.Context.Customer.ID = tc.id
			d, err := newTestEngine(t, nil).Decide(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := d.AppendEventJSON(nil, tc.ids)
			if err != nil {
				t.Fatal(err)
			}
			viaEvent, err := json.Marshal(d.Event(tc.ids))
			if err != nil {
				t.Fatal(err)
			}
			for _, enc := range [][]byte{b, viaEvent} {
				if bytes.Contains(enc, []byte(tc.id)) {
					t.Errorf("the event holds the customer id %q: %s", tc.id, enc)
				}
				if hasCtx := bytes.Contains(enc, []byte(`"tenure_months":38`)); hasCtx != (tc.ids != nil) {
					t.Errorf("context present %v, want %v: %s", hasCtx, tc.ids != nil, enc)
				}
			}
		})
	}
}

// TestAppendEventJSONAllocatesNothing: the recording decider encodes every
// decision; the event, its context and the hashed id are filled on the
// stack.
func TestAppendEventJSONAllocatesNothing(t *testing.T) {
	d, err := newTestEngine(t, nil).Decide(context.Background(), realisticRequest())
	if err != nil {
		t.Fatal(err)
	}
	if len(d.RuleIDs(nil)) == 0 {
		t.Fatal("no rule fired: the case does not exercise the rules")
	}
	cases := []struct {
		name    string
		ids     *custhash.Hasher
		context bool
	}{{"without a key: no context", nil, false}, {"with a key: context with the hashed id", newTestHasher(t), true}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ids != nil && raceEnabled {
				t.Skip("sync.Pool drops items under the race detector")
			}
			buf := make([]byte, 0, 4096)
			if n := testing.AllocsPerRun(100, func() { buf, _ = d.AppendEventJSON(buf[:0], tc.ids) }); n != 0 {
				t.Errorf("AppendEventJSON allocates %v times, want 0", n)
			}
			if got := bytes.Contains(buf, []byte(`"context":`)); got != tc.context {
				t.Errorf("context in the event %v, want %v: %s", got, tc.context, buf)
			}
		})
	}
}

func TestAppendEventJSONRejectsWhatJSONCannotCarry(t *testing.T) {
	ok := scoring.Decision{ID: "d", Time: time.Unix(0, 0), Propensity: 1}
	cases := []struct {
		name string
		edit func(d *scoring.Decision)
	}{
		{"NaN propensity", func(d *scoring.Decision) { d.Propensity = math.NaN() }},
		{"infinite probability", func(d *scoring.Decision) {
			d.Eligible = 1 << features.SelfService
			d.Probabilities[features.SelfService] = math.Inf(1)
		}},
		{"NaN feature", func(d *scoring.Decision) { d.Features = []features.Entry{{Index: 0, Value: math.NaN()}} }},
		{"invalid UTF-8 id", func(d *scoring.Decision) { d.ID = "d\xff" }},
		{"year 10000", func(d *scoring.Decision) { d.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	}
	if _, err := ok.AppendEventJSON(nil, nil); err != nil {
		t.Fatalf("valid decision: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := ok
			tc.edit(&d)
			b, err := d.AppendEventJSON([]byte("x"), nil)
			if err == nil {
				t.Fatalf("no error, appended %s", b)
			}
			if string(b) != "x" {
				t.Errorf("dst changed to %q on error", b)
			}
		})
	}
}

// TestEventCarriesTheBundlesVersions: the decision event names the policy
// and configuration versions the decision applied.
func TestEventCarriesTheBundlesVersions(t *testing.T) {
	e := newTestEngine(t, nil)
	if err := e.Update(func(b scoring.Bundle) (scoring.Bundle, error) { b.ConfigVersion = 7; return b, nil }); err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(context.Background(), realisticRequest())
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.AppendEventJSON(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := models.DecodeDecisionEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := e.Policy().Version(); ev.PolicyVersion != want || ev.PolicyVersion == 0 {
		t.Errorf("policy_version %d, want %d: %s", ev.PolicyVersion, want, b)
	}
	if ev.ConfigVersion != 7 {
		t.Errorf("config_version %d, want 7: %s", ev.ConfigVersion, b)
	}
}

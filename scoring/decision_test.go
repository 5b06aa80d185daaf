package scoring_test

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"

	json "github.com/go-json-experiment/json"

	"situ/features"
	"situ/models"
	"situ/policy"
	"situ/scoring"
)

// TestAppendLogJSONDecodesToLog: what AppendLogJSON appends decodes into
// exactly the LoggedDecision that Log returns, and into the same value as
// json.Marshal(d.Log()) does, so consumers of nba.decisions cannot tell the
// two encodings apart.
func TestAppendLogJSONDecodesToLog(t *testing.T) {
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
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.decision(t)
			prefix := []byte("kept")
			b, err := d.AppendLogJSON(prefix)
			if err != nil {
				t.Fatal(err)
			}
			if string(b[:len(prefix)]) != "kept" {
				t.Fatalf("dst overwritten: %q", b)
			}
			var got models.LoggedDecision
			if err := json.Unmarshal(b[len(prefix):], &got); err != nil {
				t.Fatalf("%v in %s", err, b[len(prefix):])
			}
			old, err := json.Marshal(d.Log())
			if err != nil {
				t.Fatal(err)
			}
			var viaLog models.LoggedDecision
			if err := json.Unmarshal(old, &viaLog); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, viaLog) {
				t.Errorf("decoded\n%+v\nwant (json.Marshal of Log)\n%+v\nnew bytes %s\nold bytes %s", got, viaLog, b[len(prefix):], old)
			}

			want := d.Log()
			if !got.Time.Equal(want.Time) {
				t.Errorf("time %s, want %s", got.Time, want.Time)
			}
			got.Time, want.Time = time.Time{}, time.Time{}
			if len(want.Features) == 0 {
				want.Features = got.Features // nil encodes as [], as json.Marshal writes it
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n%+v\nwant d.Log()\n%+v", got, want)
			}
		})
	}
}

func TestAppendLogJSONRejectsWhatJSONCannotCarry(t *testing.T) {
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
	if _, err := ok.AppendLogJSON(nil); err != nil {
		t.Fatalf("valid decision: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := ok
			tc.edit(&d)
			b, err := d.AppendLogJSON([]byte("x"))
			if err == nil {
				t.Fatalf("no error, appended %s", b)
			}
			if string(b) != "x" {
				t.Errorf("dst changed to %q on error", b)
			}
		})
	}
}

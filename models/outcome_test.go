package models_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"situ/features"
	"situ/models"
)

// TestDecodeOutcome holds the one outcome decoder (nba.outcomes consumer
// and POST /v1/outcomes) to its rules: unknown members ignored, everything
// else strict.
func TestDecodeOutcome(t *testing.T) {
	const base = `{"outcome_id":"o-1","decision_id":"d-1","resolved":true,"csat":4,"handle_seconds":340,"occurred_at":"2026-11-22T10:00:00Z"}`
	with := func(extra string) string { return strings.TrimSuffix(base, "}") + "," + extra + "}" }
	cases := []struct {
		name string
		data string
		err  string // "" for accepted; else "syntax", "semantic" or "not object"
	}{
		{"the contract example", base, ""},
		{"surrounding white space", " \n" + base + "\t", ""},
		{"unknown member", with(`"mood":"ok"`), ""},
		{"unknown member holding an object", with(`"survey":{"nps":9,"tags":["fast"]}`), ""},
		{"name in another case is an unknown member", with(`"Churned":true`), ""},
		{"whole numbers as floats", with(`"revenue":0.0`), ""},
		{"duplicate name", with(`"resolved":false`), "syntax"},
		{"duplicate unknown name", with(`"mood":"ok","mood":"bad"`), "syntax"},
		{"invalid UTF-8 in a value", with("\"mood\":\"\xff\""), "syntax"},
		{"invalid UTF-8 in an unknown name", with("\"m\xffood\":1"), "syntax"},
		{"trailing data", base + ` {}`, "syntax"},
		{"empty", ``, "syntax"},
		{"wrong type", strings.Replace(base, `"csat":4`, `"csat":"good"`, 1), "semantic"},
		{"an array", `[1]`, "semantic"},
		{"null", `null`, "not object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o models.Outcome
			err := models.DecodeOutcome([]byte(tc.data), &o)
			var (
				syn *jsontext.SyntacticError
				sem *json.SemanticError
			)
			switch tc.err {
			case "":
				if err != nil {
					t.Fatal(err)
				}
				if o.OutcomeID != "o-1" || !o.Resolved || o.CSAT == nil || *o.CSAT != 4 || o.HandleSeconds != 340 || o.Churned {
					t.Fatalf("decoded %+v", o)
				}
			case "syntax":
				if !errors.As(err, &syn) {
					t.Fatalf("error %v, want a syntactic error", err)
				}
			case "semantic":
				if !errors.As(err, &sem) {
					t.Fatalf("error %v, want a semantic error", err)
				}
			case "not object":
				if !errors.Is(err, models.ErrOutcomeNotObject) {
					t.Fatalf("error %v, want ErrOutcomeNotObject", err)
				}
			}
		})
	}
}

func TestCheckDecisionID(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	v7 := func(at time.Time) string {
		ms := at.UnixMilli()
		return fmt.Sprintf("%08x-%04x-7abc-8def-0123456789ab", ms>>16, ms&0xffff)
	}
	cases := []struct {
		name, id string
		message  string // "" when accepted
	}{
		{"a decision of an hour ago", v7(now.Add(-time.Hour)), ""},
		{"upper-case hex", strings.ToUpper(v7(now.Add(-time.Hour))), ""},
		{"a UUIDv4 carries no time", "3f2b8c1e-9d4a-4e6f-a1b2-c3d4e5f60718", ""},
		{"a placeholder", "PASTE-THE-DECISION-ID", "is not a decision id"},
		{"not hex", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g", "is not a decision id"},
		{"older than the window", v7(now.Add(-25 * time.Hour)), "longer ago than the reward window of 24h0m0s"},
		{"in the future", v7(now.Add(time.Hour)), "in the future"},
		{"a little ahead: clock skew", v7(now.Add(30 * time.Second)), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := models.CheckDecisionID(tc.id, now, 24*time.Hour)
			if tc.message == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var fe *features.FieldError
			if !errors.As(err, &fe) || fe.Field != "decision_id" || !strings.Contains(fe.Message, tc.message) {
				t.Fatalf("got %v, want a decision_id error saying %q", err, tc.message)
			}
		})
	}
}

// TestDecodeOutcomeParts holds the decoder to the contract of outcomes in
// parts: a field the object does not name is missing (unknown, not false
// or 0), csat null is a part saying there was no survey, and the encoder
// writes back exactly the fields the part holds.
func TestDecodeOutcomeParts(t *testing.T) {
	const head = `{"outcome_id":"o-1","decision_id":"d-1",`
	const at = `"occurred_at":"2026-11-22T10:00:00Z"}`
	all := models.AllOutcomeFields
	only := func(fs ...models.OutcomeField) models.OutcomeFields {
		var s models.OutcomeFields
		for _, f := range fs {
			s = s.With(f)
		}
		return s
	}
	cases := []struct {
		name string
		data string
		held models.OutcomeFields
		csat bool // CSAT non-nil
	}{
		{"every field: one complete part", head + `"resolved":false,"csat":4,"upsell_accepted":false,"revenue":0,"handle_seconds":340,"escalated":false,"recontact_7d":false,"churned":false,` + at, all, true},
		{"no field", head + at, 0, false},
		{"resolved alone", head + `"resolved":false,` + at, only(models.FieldResolved), false},
		{"csat null: held, no survey", head + `"csat":null,` + at, only(models.FieldCSAT), false},
		{"the late fields", head + `"recontact_7d":true,"churned":false,` + at, only(models.FieldRecontact7d, models.FieldChurned), false},
		{"a name written with escapes", head + `"churn\u0065d":true,` + at, only(models.FieldChurned), false},
		{"unknown members hold nothing", head + `"mood":"ok","handle_seconds":12,` + at, only(models.FieldHandleSeconds), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o models.Outcome
			if err := models.DecodeOutcome([]byte(tc.data), &o); err != nil {
				t.Fatal(err)
			}
			if o.Held() != tc.held || (o.CSAT != nil) != tc.csat {
				t.Fatalf("held %08b csat %v, want %08b csat %v", o.Held(), o.CSAT, tc.held, tc.csat)
			}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			// round trip through the encoder the publisher and the
			// checkpoint use
			b, err := json.Marshal(&o)
			if err != nil {
				t.Fatal(err)
			}
			var back models.Outcome
			if err := models.DecodeOutcome(b, &back); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if back.Held() != o.Held() || (back.CSAT != nil) != (o.CSAT != nil) || !back.OccurredAt.Equal(o.OccurredAt) || back.OutcomeID != o.OutcomeID {
				t.Fatalf("round trip %s gave %+v, want %+v", b, back, o)
			}
			for f := range models.OutcomeField(models.NumOutcomeFields) {
				if strings.Contains(string(b), `"`+f.String()+`"`) != o.Holds(f) {
					t.Fatalf("encoded %s: %s written %v, held %v", b, f, !o.Holds(f), o.Holds(f))
				}
			}
		})
	}
	// an Outcome built in Go with every field set is one complete part
	o := models.Outcome{OutcomeID: "o", DecisionID: "d", Resolved: true}
	if o.Held() != all {
		t.Fatalf("zero Missing holds %08b", o.Held())
	}
	// a strict reader (the checkpoint's) rejects unknown members
	var strict models.Outcome
	if err := json.Unmarshal([]byte(head+`"mood":1,`+at), &strict, json.RejectUnknownMembers(true)); err == nil {
		t.Fatal("a strict decode accepted an unknown member")
	}
}

func BenchmarkDecodeOutcome(b *testing.B) {
	data := []byte(`{"outcome_id":"0193a0b2-8f1e-7c3d-9a4b-5c6d7e8f9a0b","decision_id":"0193a0b2-8f1e-7c3d-9a4b-5c6d7e8f9a0c","resolved":true,"csat":4,"upsell_accepted":false,"revenue":0,"handle_seconds":340,"escalated":false,"recontact_7d":false,"churned":false,"occurred_at":"2026-11-22T10:00:00Z"}`)
	b.ReportAllocs()
	for b.Loop() {
		var o models.Outcome
		if err := models.DecodeOutcome(data, &o); err != nil {
			b.Fatal(err)
		}
	}
}

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

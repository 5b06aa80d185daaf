package feedback

import (
	"testing"

	"situ/models"
)

// FuzzDecodeOutcome feeds arbitrary message values to the outcome decoder:
// it must never panic, and what it accepts must re-validate the same way.
func FuzzDecodeOutcome(f *testing.F) {
	f.Add([]byte(`{"outcome_id":"o-1","decision_id":"d-1","resolved":true,"csat":4,"occurred_at":"2026-11-22T10:00:00Z"}`))
	f.Add([]byte(`{"outcome_id":"o-1","decision_id":"d-1","csat":9}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, value []byte) {
		var o models.Outcome
		if err := decodeOutcome(value, &o); err != nil {
			return
		}
		first := o.Validate()
		if second := o.Validate(); (first == nil) != (second == nil) {
			t.Fatalf("validation not deterministic: %v vs %v", first, second)
		}
	})
}

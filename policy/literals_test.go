package policy_test

import (
	"strings"
	"testing"

	"situ/policy"
)

// TestNonCanonicalLiteralsDoNotCompile: contexts are canonical before
// rules see them, so a rule comparing a text field with a literal that is
// not canonical could never fire; it is a compile error naming the rule
// and the literal.
func TestNonCanonicalLiteralsDoNotCompile(t *testing.T) {
	cases := []struct {
		name    string
		when    string
		literal string // "" when the rule must compile
	}{
		{"canonical ==", `intent.name == "billing_dispute"`, ""},
		{"canonical in", `channel in ["phone", "ivr"]`, ""},
		{"canonical tier", `customer.tier == "gold"`, ""},
		{"empty tier (uniform mode)", `customer.tier == ""`, ""},
		{"other fields are not canonicalised", `attributes["Channel"] > 0 && friction.open_complaint`, ""},
		{"lower() of a field is not the field", `upper(intent.name) == "COMPLAINT"`, ""},
		{"contains is not a comparison", `intent.name contains "dispute"`, ""},
		{"capitalised ==", `intent.name == "Billing_Dispute"`, "Billing_Dispute"},
		{"literal on the left", `"Phone" == channel`, "Phone"},
		{"!=", `channel != "Phone"`, "Phone"},
		{"padded literal", `intent.name == "complaint "`, "complaint "},
		{"in list", `channel in ["phone", "Chat"]`, "Chat"},
		{"not in list", `intent.name not in ["complaint", "Cancel_Service"]`, "Cancel_Service"},
		{"tier", `customer.tier == "Gold"`, "Gold"},
		{"bracket access", `intent["name"] == "Complaint"`, "Complaint"},
		{"optional chaining", `customer?.tier == "GOLD"`, "GOLD"},
		{"deep in the condition", `friction.transfers > 1 && (customer.first_contact || channel == "IVR")`, "IVR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Compile(policy.Spec{
				Version: 1, Floor: policy.FloorSpec{HumanEscape: true},
				Rules: []policy.RuleSpec{{ID: "r-1", When: tc.when, Exclude: []string{"self_service"}}},
			})
			if tc.literal == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if err == nil {
				t.Fatal("compiled, want an error")
			}
			for _, want := range []string{`"r-1"`, `"` + tc.literal + `"`, "canonical"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %s", err, want)
				}
			}
		})
	}
}

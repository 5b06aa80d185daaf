package situtest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"situ/features"
)

// TestdataSchema parses the schema file name of features/testdata (such
// as "interactions.yaml"), from whichever package's test calls it, and
// fails tb if it cannot.
func TestdataSchema(tb testing.TB, name string) *features.Schema {
	tb.Helper()
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("situtest: no source path")
	}
	path := filepath.Join(filepath.Dir(here), "..", "..", "features", "testdata", name)
	doc, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := features.ParseSchema(doc)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return s
}

// ContractContext is the context of the contract's score request
// (ContractBody), as the API decodes it.
func ContractContext() features.Context {
	confidence := 0.8
	return features.Context{
		Customer:   features.Customer{ID: "c-1842", LifetimeValue: 5400, AnnualSpend: 1200, TenureMonths: 38, Tier: "gold"},
		Intent:     features.Intent{Name: "billing_dispute", Confidence: &confidence},
		Channel:    "phone",
		Friction:   features.Friction{RepeatContacts7d: 2, FailedSelfService24h: 1, WaitSeconds: 180, Transfers: 1, OpenComplaint: true, Sentiment: -0.6},
		Attributes: map[string]float64{"any_extra_feature": 1},
	}
}

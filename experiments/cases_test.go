package experiments

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"situ/internal/shareddata"
)

// casesFile is GrowthBook's SDK conformance file, outside the repository:
// shared/data/growthbook/cases.json beside the repository root, that is
// ../../shared/... from this package.
const casesFile = "shared/data/growthbook/cases.json"

// findCases looks for casesFile beside the repository root and, for a git
// worktree kept in a folder of its own, beside each directory above it.
// It returns the first path that exists, or "".
func findCases() string {
	return shareddata.Find(filepath.Join("..", ".."), "growthbook/cases.json")
}

// loadCases returns the raw cases of one section of cases.json, each as
// its JSON array of fields, or skips the test when the file is absent.
func loadCases(t *testing.T, section string) [][]json.RawMessage {
	t.Helper()
	path := findCases()
	if path == "" {
		t.Skipf("GrowthBook conformance cases not found: no ../../%s beside the repository or above it", casesFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		t.Fatal(err)
	}
	raw, ok := all[section]
	if !ok {
		t.Fatalf("%s has no section %q", path, section)
	}
	var cases [][]json.RawMessage
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatalf("section %s: %v", section, err)
	}
	if len(cases) == 0 {
		t.Fatalf("section %s is empty", section)
	}
	return cases
}

func decode(t *testing.T, fields []json.RawMessage, into ...any) {
	t.Helper()
	if len(fields) != len(into) {
		t.Fatalf("case %s: %d fields, want %d", fields, len(fields), len(into))
	}
	for i, f := range fields {
		if err := json.Unmarshal(f, into[i]); err != nil {
			t.Fatalf("case %s field %d: %v", fields, i, err)
		}
	}
}

// round8 rounds to 8 decimals, the most digits the expected values of
// these sections print (0.33333333). GrowthBook's own suites compare
// bucket ranges and equal weights the same way, after cutting both sides
// to a fixed number of decimals (the JS SDK 8, the Go SDK 6); hashes they
// compare exactly, and so does TestCasesHash.
func round8(x float64) float64 { return math.Round(x*1e8) / 1e8 }

func rangesFromPairs(pairs [][2]float64) []Range {
	out := make([]Range, len(pairs))
	for i, p := range pairs {
		out[i] = Range{Start: p[0], End: p[1]}
	}
	return out
}

func TestCasesHash(t *testing.T) {
	cases := loadCases(t, "hash")
	passed := 0
	for _, c := range cases {
		var (
			seed, value string
			version     int
			expected    *float64
		)
		decode(t, c, &seed, &value, &version, &expected)
		t.Run(fmt.Sprintf("%q/%q/v%d", seed, value, version), func(t *testing.T) {
			got, ok := Hash(seed, value, version)
			switch {
			case expected == nil && ok:
				t.Errorf("Hash(%q, %q, %d) = %v, true; want no hash for this version", seed, value, version, got)
			case expected != nil && !ok:
				t.Errorf("Hash(%q, %q, %d) gave no hash; want %v", seed, value, version, *expected)
			case expected != nil && got != *expected:
				t.Errorf("Hash(%q, %q, %d) = %v; want %v", seed, value, version, got, *expected)
			default:
				passed++
			}
		})
	}
	t.Logf("hash: %d of %d cases passed", passed, len(cases))
}

func TestCasesGetBucketRange(t *testing.T) {
	cases := loadCases(t, "getBucketRange")
	passed := 0
	for _, c := range cases {
		var (
			name     string
			inputs   []json.RawMessage
			expected [][2]float64
		)
		decode(t, c, &name, &inputs, &expected)
		var (
			num      int
			coverage float64
			weights  []float64
		)
		decode(t, inputs, &num, &coverage, &weights)
		t.Run(name, func(t *testing.T) {
			got := BucketRanges(num, coverage, weights)
			want := rangesFromPairs(expected)
			if len(got) != len(want) {
				t.Fatalf("BucketRanges(%d, %v, %v) = %v; want %v", num, coverage, weights, got, want)
			}
			for i := range got {
				if round8(got[i].Start) != round8(want[i].Start) || round8(got[i].End) != round8(want[i].End) {
					t.Fatalf("BucketRanges(%d, %v, %v) = %v; want %v", num, coverage, weights, got, want)
				}
			}
			passed++
		})
	}
	t.Logf("getBucketRange: %d of %d cases passed", passed, len(cases))
}

func TestCasesChooseVariation(t *testing.T) {
	cases := loadCases(t, "chooseVariation")
	passed := 0
	for _, c := range cases {
		var (
			name     string
			n        float64
			pairs    [][2]float64
			expected int
		)
		decode(t, c, &name, &n, &pairs, &expected)
		t.Run(name, func(t *testing.T) {
			ranges := rangesFromPairs(pairs)
			if got := ChooseVariation(n, ranges); got != expected {
				t.Fatalf("ChooseVariation(%v, %v) = %d; want %d", n, ranges, got, expected)
			}
			passed++
		})
	}
	t.Logf("chooseVariation: %d of %d cases passed", passed, len(cases))
}

func TestCasesInNamespace(t *testing.T) {
	cases := loadCases(t, "inNamespace")
	passed := 0
	for _, c := range cases {
		var (
			name, id string
			nsFields []json.RawMessage
			expected bool
		)
		decode(t, c, &name, &id, &nsFields, &expected)
		var ns Namespace
		decode(t, nsFields, &ns.ID, &ns.Start, &ns.End)
		t.Run(name, func(t *testing.T) {
			if got := InNamespace(id, ns); got != expected {
				t.Fatalf("InNamespace(%q, %+v) = %v; want %v", id, ns, got, expected)
			}
			passed++
		})
	}
	t.Logf("inNamespace: %d of %d cases passed", passed, len(cases))
}

func TestCasesGetEqualWeights(t *testing.T) {
	cases := loadCases(t, "getEqualWeights")
	passed := 0
	for _, c := range cases {
		var (
			n        int
			expected []float64
		)
		decode(t, c, &n, &expected)
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			got := EqualWeights(n)
			if len(got) != len(expected) {
				t.Fatalf("EqualWeights(%d) = %v; want %v", n, got, expected)
			}
			for i := range got {
				if round8(got[i]) != round8(expected[i]) {
					t.Fatalf("EqualWeights(%d) = %v; want %v", n, got, expected)
				}
			}
			passed++
		})
	}
	t.Logf("getEqualWeights: %d of %d cases passed", passed, len(cases))
}

package experiments

import (
	"hash/fnv"
	"strconv"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// referenceHash is Hash written the plain way, with string concatenation,
// strconv and the standard library's FNV-1a over the UTF-8 bytes, as
// GrowthBook's Go SDK does.
func referenceHash(seed, value string, version int) (float64, bool) {
	sum := func(s string) uint32 {
		h := fnv.New32a()
		h.Write([]byte(s))
		return h.Sum32()
	}
	switch version {
	case 2:
		return float64(sum(strconv.FormatUint(uint64(sum(seed+value)), 10))%10000) / 10000, true
	case 1:
		return float64(sum(value+seed)%1000) / 1000, true
	}
	return 0, false
}

func TestHashMatchesReference(t *testing.T) {
	seeds := []string{"", "philosophy", "seed", "90850943850283058242805", "客户"}
	for _, seed := range seeds {
		for i := 0; i < 2000; i++ {
			value := "customer-" + strconv.Itoa(i)
			for _, v := range []int{1, 2} {
				got, ok := Hash(seed, value, v)
				want, _ := referenceHash(seed, value, v)
				if !ok || got != want {
					t.Fatalf("Hash(%q, %q, %d) = %v, %v; want %v", seed, value, v, got, ok, want)
				}
			}
		}
	}
}

func TestHashUnknownVersion(t *testing.T) {
	for _, v := range []int{-1, 0, 3, 99} {
		if got, ok := Hash("abc", "def", v); ok {
			t.Errorf("Hash version %d = %v, true; want no hash", v, got)
		}
	}
}

// Ids outside ASCII are hashed as UTF-8 bytes, as the GrowthBook Go SDK
// does. The JavaScript SDK hashes UTF-16 code units and gives the values
// in the comments instead; both columns were computed independently of
// this package.
func TestHashNonASCIIIsUTF8(t *testing.T) {
	cases := []struct {
		seed, value string
		version     int
		want        float64 // UTF-8 bytes (Go SDK, situ)
		js          float64 // UTF-16 code units (JS SDK)
	}{
		{"philosophy", "josé", 2, 0.2755, 0.38},
		{"philosophy", "josé", 1, 0.04, 0.201},
		{"philosophy", "客户-7", 2, 0.3021, 0.1734},
		{"philosophy", "😀", 2, 0.9626, 0.0198},
	}
	for _, c := range cases {
		got, ok := Hash(c.seed, c.value, c.version)
		if !ok || got != c.want {
			t.Errorf("Hash(%q, %q, %d) = %v; want %v (UTF-8; the JS SDK's UTF-16 hash is %v)",
				c.seed, c.value, c.version, got, c.want, c.js)
		}
	}
}

func TestHashRange(t *testing.T) {
	for i := 0; i < 10000; i++ {
		id := strconv.Itoa(i)
		for _, v := range []int{1, 2} {
			h, _ := Hash("range", id, v)
			if h < 0 || h >= 1 {
				t.Fatalf("Hash(range, %s, %d) = %v, outside [0, 1)", id, v, h)
			}
		}
	}
}

func TestBucketRangesCoverageKeepsArms(t *testing.T) {
	weights := []float64{0.4, 0.3, 0.3}
	full := BucketRanges(3, 1, weights)
	half := BucketRanges(3, 0.5, weights)
	for i := 0; i < 20000; i++ {
		h, _ := Hash("cov", strconv.Itoa(i), 2)
		if a := ChooseVariation(h, half); a != -1 && a != ChooseVariation(h, full) {
			t.Fatalf("id %d: arm %d at coverage 0.5, %d at full coverage", i, a, ChooseVariation(h, full))
		}
	}
}

func TestBucketRangesNonPositive(t *testing.T) {
	for _, n := range []int{-2, 0} {
		if r := BucketRanges(n, 1, nil); len(r) != 0 {
			t.Errorf("BucketRanges(%d, 1, nil) = %v; want none", n, r)
		}
	}
}

const uniformIDs = 100000

// chiSquareP is the upper-tail p-value of a chi-square statistic.
func chiSquareP(stat float64, df int) float64 {
	return distuv.ChiSquared{K: float64(df)}.Survival(stat)
}

func TestHashV2Uniform(t *testing.T) {
	const bins = 100
	var counts [bins]int
	for i := 0; i < uniformIDs; i++ {
		h, _ := Hash("uniformity", "customer-"+strconv.Itoa(i), 2)
		counts[int(h*bins)]++
	}
	expected := float64(uniformIDs) / bins
	stat := 0.0
	for _, c := range counts {
		d := float64(c) - expected
		stat += d * d / expected
	}
	p := chiSquareP(stat, bins-1)
	t.Logf("chi-square %.1f over %d bins, p = %.3f", stat, bins, p)
	if p <= 0.001 {
		t.Fatalf("hash v2 over %d ids is not uniform: chi-square %.1f, df %d, p = %g", uniformIDs, stat, bins-1, p)
	}
}

// Two experiments with different seeds assign independently: the table of
// (arm in A, arm in B) counts passes a chi-square test of independence.
func TestHashV2IndependentSeeds(t *testing.T) {
	a := BucketRanges(3, 1, []float64{0.5, 0.3, 0.2})
	b := BucketRanges(4, 1, nil)
	var table [3][4]float64
	var rows [3]float64
	var cols [4]float64
	for i := 0; i < uniformIDs; i++ {
		id := "customer-" + strconv.Itoa(i)
		ha, _ := Hash("philosophy", id, 2)
		hb, _ := Hash("greeting", id, 2)
		ia, ib := ChooseVariation(ha, a), ChooseVariation(hb, b)
		if ia < 0 || ib < 0 {
			t.Fatalf("id %s unassigned at full coverage", id)
		}
		table[ia][ib]++
		rows[ia]++
		cols[ib]++
	}
	stat := 0.0
	for i := range table {
		for j := range table[i] {
			e := rows[i] * cols[j] / uniformIDs
			d := table[i][j] - e
			stat += d * d / e
		}
	}
	df := (len(rows) - 1) * (len(cols) - 1)
	p := chiSquareP(stat, df)
	t.Logf("independence chi-square %.2f, df %d, p = %.3f", stat, df, p)
	if p <= 0.001 {
		t.Fatalf("assignments under two seeds are dependent: chi-square %.2f, df %d, p = %g", stat, df, p)
	}
}

func TestAssignmentDoesNotAllocate(t *testing.T) {
	ranges := BucketRanges(3, 1, []float64{0.4, 0.3, 0.3})
	ns := Namespace{ID: "ns", Start: 0, End: 0.5}
	allocs := testing.AllocsPerRun(1000, func() {
		h, _ := Hash("philosophy", "customer-123456", 2)
		_ = ChooseVariation(h, ranges)
		_ = InNamespace("customer-123456", ns)
	})
	if allocs != 0 {
		t.Fatalf("assignment allocates %v times per call; want 0", allocs)
	}
}

var sinkArm int

// BenchmarkAssign is one assignment on the decision path: the v2 hash of
// a customer id under the experiment's seed, then the arm.
func BenchmarkAssign(b *testing.B) {
	ranges := BucketRanges(3, 1, []float64{0.4, 0.3, 0.3})
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = "customer-" + strconv.Itoa(100000+i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		h, _ := Hash("philosophy", ids[i&1023], 2)
		sinkArm = ChooseVariation(h, ranges)
	}
}

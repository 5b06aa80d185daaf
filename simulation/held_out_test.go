package simulation_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"situ/simulation"
)

// TestHeldOutWorldsAreTheBenchmarks: every world scripts/bench_quality.sh
// runs by default, and every world its drifts move to, is held out; the
// tuning worlds are not.
func TestHeldOutWorldsAreTheBenchmarks(t *testing.T) {
	script, err := os.ReadFile("../scripts/bench_quality.sh")
	if err != nil {
		t.Fatal(err)
	}
	defaults := func(name string) []uint64 {
		m := regexp.MustCompile(name + `=\$\{QUALITY_` + name + `:-"([0-9 ]+)"\}`).FindSubmatch(script)
		if m == nil {
			t.Fatalf("no default %s in scripts/bench_quality.sh", name)
		}
		var seeds []uint64
		for _, f := range strings.Fields(string(m[1])) {
			s, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			seeds = append(seeds, s)
		}
		return seeds
	}
	worlds, drifts := defaults("WORLDS"), defaults("DRIFT_WORLDS")
	if len(worlds) != 10 || len(drifts) != 5 {
		t.Fatalf("worlds %v, drifts %v", worlds, drifts)
	}
	for _, s := range worlds {
		if !simulation.HeldOutWorld(s) {
			t.Errorf("world %d of the benchmark is not held out", s)
		}
	}
	for _, s := range drifts {
		if !simulation.HeldOutWorld(s) || !simulation.HeldOutWorld(s+1000) {
			t.Errorf("drift %d → %d of the benchmark is not held out", s, s+1000)
		}
	}
	for _, s := range []uint64{1, 11, 20, 100, 111, 200, 206, 1017, 1200, 1206} {
		if simulation.HeldOutWorld(s) {
			t.Errorf("world %d is held out", s)
		}
	}
}

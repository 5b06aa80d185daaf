package main

import (
	"runtime/debug"
	"testing"
)

// TestApplyGCPercent: --gc-percent applies where the heap is the API's
// alone, and GOGC in the environment wins.
func TestApplyGCPercent(t *testing.T) {
	cases := []struct {
		name   string
		role   string
		single bool
		gogc   string
		want   bool
	}{
		{"api replica", roleAPI, false, "", true},
		{"default run, learner and broker in child processes", roleAll, false, "", true},
		{"single process: the learner's heap is there too", roleAll, true, "", false},
		{"learner", roleLearner, false, "", false},
		{"broker", roleBroker, false, "", false},
		{"GOGC set", roleAPI, false, "150", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := debug.SetGCPercent(100)
			defer debug.SetGCPercent(before)
			opts := serveOptions{role: tc.role, singleProcess: tc.single, gcPercent: 300}
			got := applyGCPercent(opts, func(k string) string {
				if k == "GOGC" {
					return tc.gogc
				}
				return ""
			})
			now := debug.SetGCPercent(100)
			if got != tc.want || (now == 300) != tc.want {
				t.Fatalf("applied %v, GOGC now %d; want applied %v", got, now, tc.want)
			}
		})
	}
}

package features_test

import (
	"strings"
	"testing"

	"situ/features"
)

// extractionCase is a context edited from a base, and the features its
// vector must hold (by name, with their values) and must not.
type extractionCase struct {
	name    string
	edit    func(*features.Context)
	uniform bool
	want    map[string]float64
	absent  []string
}

// checkExtractions extracts each case's context with s and checks its
// features; in uniform mode no feature on value or tier may be left.
func checkExtractions(t *testing.T, s *features.Schema, base features.Context, cases []extractionCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			x, err := s.Extract(&c, tc.uniform, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(x) > s.MaxEntries() {
				t.Errorf("%d entries, MaxEntries %d", len(x), s.MaxEntries())
			}
			got := lookup(t, s, x)
			for name, v := range tc.want {
				if _, ok := s.Index(name); !ok {
					t.Fatalf("no feature %s", name)
				}
				if got[name] != v {
					t.Errorf("%s = %g, want %g", name, got[name], v)
				}
			}
			for _, name := range tc.absent {
				if _, ok := s.Index(name); !ok {
					t.Fatalf("no feature %s", name)
				}
				if v, ok := got[name]; ok {
					t.Errorf("%s = %g, want absent", name, v)
				}
			}
			for name := range got {
				if tc.uniform && (strings.Contains(name, "value") || strings.Contains(name, "tier")) {
					t.Errorf("uniform mode kept %s", name)
				}
			}
		})
	}
}

package control

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"situ/features"
	"situ/models"
	"situ/policy"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func testEnv(t *testing.T) Env {
	t.Helper()
	s, err := features.DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.DefaultModel(s)
	if err != nil {
		t.Fatal(err)
	}
	return Env{Schema: s, Model: m}
}

func defaultConfig(t *testing.T) Config {
	t.Helper()
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func f(v float64) *float64 { return &v }
func s(v string) *string   { return &v }
func i64(v int64) *int64   { return &v }

// uniformPolicy is the default policy with uniform mode on.
func uniformPolicy(t *testing.T) string {
	t.Helper()
	p := strings.Replace(string(policy.DefaultPolicyYAML()), "uniform_mode: false", "uniform_mode: true", 1)
	if p == string(policy.DefaultPolicyYAML()) {
		t.Fatal("default policy has no uniform_mode: false line")
	}
	return p
}

func encodeConfig(t *testing.T, c Config) []byte {
	t.Helper()
	b, err := EncodeConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustApply(t *testing.T, base Config, ch Change, env Env) Config {
	t.Helper()
	c, err := Apply(base, ch, env)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return c
}

func sameConfig(t *testing.T, got, want Config) {
	t.Helper()
	if g, w := encodeConfig(t, got), encodeConfig(t, want); !bytes.Equal(g, w) {
		t.Errorf("configuration\n got %s\nwant %s", g, w)
	}
}

func weightOf(c Config, treatment, feature string) (Weight, bool) {
	for _, w := range c.Weights {
		if w.Treatment == treatment && w.Feature == feature {
			return w, true
		}
	}
	return Weight{}, false
}

func f64(v float64) *float64 { return &v }

func fuzzEnv() (Env, bool) {
	s, err := features.DefaultSchema()
	if err != nil {
		return Env{}, false
	}
	m, err := models.DefaultModel(s)
	if err != nil {
		return Env{}, false
	}
	return Env{Schema: s, Model: m}, true
}

func mustDefault() Config {
	c, err := Default()
	if err != nil {
		panic(err)
	}
	return c
}

package control

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"situ/features"
)

func TestPrepareLeavesTheHistoryUnchanged(t *testing.T) {
	env := testEnv(t)
	h := NewHistory(defaultConfig(t))
	lever := Change{Levers: map[string]float64{"pamper_upsell": -0.05}}
	if _, err := h.Propose(lever, "ana", "first", nil, t0, env); err != nil {
		t.Fatal(err)
	}
	pinned := Change{Weights: []WeightChange{{Treatment: "self_service", Feature: "bias", Pin: true, At: f(0.2)}}}
	r, err := h.Prepare(pinned, "bo", "second", i64(1), t0, env)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := h.Current(); v != 1 {
		t.Fatalf("Prepare appended: current version %d", v)
	}
	if r.Version != 2 || r.Author != "bo" || !slices.Equal(r.Kinds, []Kind{KindWeights}) {
		t.Errorf("record %+v", r)
	}
	cur, _ := h.At(1)
	sameConfig(t, r.Before, cur)

	// the prepared record is what Propose would have made: Add takes it
	r.ID = "p-1"
	if err := h.Add(r); err != nil {
		t.Fatalf("Add(prepared): %v", err)
	}
	got, _ := h.Get(2)
	if got.ID != "p-1" {
		t.Errorf("ID %q after Add", got.ID)
	}
	// a second record prepared on the same base conflicts with it
	other, err := h.Prepare(Change{Levers: map[string]float64{"pamper_upsell": 0.1}}, "cy", "late", nil, t0, env)
	if err != nil {
		t.Fatal(err)
	}
	other.Version, other.Before, other.ID = 2, cur, "p-2"
	if err := h.Add(other); !errors.Is(err, ErrConflict) {
		t.Errorf("Add(second record for version 2) = %v, want ErrConflict", err)
	}
}

func TestPrepareRefuses(t *testing.T) {
	env := testEnv(t)
	h := NewHistory(defaultConfig(t))
	var fe *features.FieldError
	if _, err := h.Prepare(Change{Levers: map[string]float64{"pamper_upsel": 1}}, "ana", "typo", nil, t0, env); !errors.As(err, &fe) || fe.Field != "change.levers.pamper_upsel" {
		t.Errorf("invalid change: %v", err)
	}
	if _, err := h.Prepare(Change{Levers: map[string]float64{"pamper_upsell": 1}}, "", "no author", nil, t0, env); !errors.As(err, &fe) || fe.Field != "author" {
		t.Errorf("no author: %v", err)
	}
	var stale *StaleError
	if _, err := h.Prepare(Change{Levers: map[string]float64{"pamper_upsell": 1}}, "ana", "stale", i64(3), t0, env); !errors.As(err, &stale) || stale.Current != 0 || stale.Base != 3 {
		t.Errorf("stale base: %v", err)
	}
	var unknown *UnknownVersionError
	if _, err := h.PrepareRollback(4, "ana", "no such version", nil, t0, env); !errors.As(err, &unknown) {
		t.Errorf("rollback to an unknown version: %v", err)
	}
	if v, _ := h.Current(); v != 0 {
		t.Errorf("current version %d after refusals", v)
	}
}

func TestPrepareRollbackRestoresTheTarget(t *testing.T) {
	env := testEnv(t)
	h := NewHistory(defaultConfig(t))
	for _, ch := range []Change{
		{Levers: map[string]float64{"pamper_upsell": -0.05}},
		{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Set: f(0.4), Pin: true}}},
	} {
		if _, err := h.Propose(ch, "ana", "step", nil, t0, env); err != nil {
			t.Fatal(err)
		}
	}
	r, err := h.PrepareRollback(1, "ana", "undo", i64(2), t0, env)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != 3 || r.RollbackOf == nil || *r.RollbackOf != 1 {
		t.Errorf("record %+v", r)
	}
	target, _ := h.At(1)
	if !bytes.Equal(encodeConfig(t, r.After), encodeConfig(t, target)) {
		t.Error("rollback's after does not encode to the target's bytes")
	}
}

func TestRecordKeyAndChangeKinds(t *testing.T) {
	if k := (Record{Version: 7}).Key(); k != "config/7" {
		t.Errorf("key without id: %q", k)
	}
	if k := (Record{Version: 7, ID: "ab12"}).Key(); k != "config/7/ab12" {
		t.Errorf("key with id: %q", k)
	}
	ch := Change{Policy: s("x"), Levers: map[string]float64{"self_service": 1}, Exploration: &ExplorationChange{}}
	if got := ch.Kinds(); !slices.Equal(got, []Kind{KindLevers, KindPolicy}) {
		t.Errorf("kinds %v", got)
	}
	if got := (Change{}).Kinds(); len(got) != 0 {
		t.Errorf("empty change kinds %v", got)
	}
}

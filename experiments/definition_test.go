package experiments

import (
	"errors"
	"testing"

	"situ/features"
)

func validDefinition() Definition {
	d := Definition{
		ID: "philosophy", Hypothesis: "serving by value costs the least-served tier resolution",
		Arms:       []Arm{{"control", "learned", 0.4}, {"tiers", "value_tier", 0.3}, {"same", "uniform", 0.3}},
		Guardrails: []Guardrail{{Metric: "resolved", MaxRelativeDrop: ptr(0.05), Segments: []string{"tier"}}},
		OnBreach:   "stop",
	}
	d.Normalize()
	return d
}

func TestNormalizeFillsDefaults(t *testing.T) {
	d := Definition{ID: "x", Arms: []Arm{{" a ", " learned ", 0.5}, {"b", "uniform", 0.5}}}
	d.Normalize()
	if d.Coverage != 1 || d.Seed != "x" || d.OnBreach != OnBreachReport || d.PrimaryMetric != "reward" || d.Arms[0].Name != "a" || d.Arms[0].Strategy != "learned" {
		t.Fatalf("normalized %+v", d)
	}
	if err := d.Validate(""); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Definition)
		field string
	}{
		{"id", func(d *Definition) { d.ID = "Bad Id" }, "experiment.id"},
		{"one arm", func(d *Definition) { d.Arms = d.Arms[:1] }, "experiment.arms"},
		{"arm name", func(d *Definition) { d.Arms[1].Name = "" }, "experiment.arms[1].name"},
		{"arm twice", func(d *Definition) { d.Arms[2].Name = "tiers" }, "experiment.arms[2].name"},
		{"strategy", func(d *Definition) { d.Arms[1].Strategy = "random" }, "experiment.arms[1].strategy"},
		{"model version", func(d *Definition) { d.Arms[1].Strategy = "model@0" }, "experiment.arms[1].strategy"},
		{"weight", func(d *Definition) { d.Arms[0].Weight = 0 }, "experiment.arms[0].weight"},
		{"weights sum", func(d *Definition) { d.Arms[0].Weight = 0.5 }, "experiment.arms"},
		{"coverage", func(d *Definition) { d.Coverage = 1.5 }, "experiment.coverage"},
		{"namespace id", func(d *Definition) { d.Namespace = &NamespaceSpec{ID: "", Range: [2]float64{0, 0.5}} }, "experiment.namespace.id"},
		{"namespace range", func(d *Definition) { d.Namespace = &NamespaceSpec{ID: "ns", Range: [2]float64{0.5, 0.5}} }, "experiment.namespace.range"},
		{"guardrail metric", func(d *Definition) { d.Guardrails[0].Metric = "happiness" }, "experiment.guardrails[0].metric"},
		{"guardrail bound missing", func(d *Definition) { d.Guardrails[0].MaxRelativeDrop = nil }, "experiment.guardrails[0]"},
		{"guardrail both bounds", func(d *Definition) { d.Guardrails[0].MaxRelativeRise = ptr(0.1) }, "experiment.guardrails[0]"},
		{"drop of a cost", func(d *Definition) { d.Guardrails[0].Metric = "churned" }, "experiment.guardrails[0].max_relative_drop"},
		{"rise of a good", func(d *Definition) {
			d.Guardrails[0].MaxRelativeDrop, d.Guardrails[0].MaxRelativeRise = nil, ptr(0.1)
		}, "experiment.guardrails[0].max_relative_rise"},
		{"negative drop", func(d *Definition) { d.Guardrails[0].MaxRelativeDrop = ptr(-0.1) }, "experiment.guardrails[0].max_relative_drop"},
		{"segment", func(d *Definition) { d.Guardrails[0].Segments = []string{"intent"} }, "experiment.guardrails[0].segments[0]"},
		{"on breach", func(d *Definition) { d.OnBreach = "panic" }, "experiment.on_breach"},
		{"primary metric", func(d *Definition) { d.PrimaryMetric = "clicks" }, "experiment.primary_metric"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := validDefinition()
			if err := d.Validate("experiment"); err != nil {
				t.Fatalf("valid definition refused: %v", err)
			}
			d = d.Clone()
			c.edit(&d)
			err := d.Validate("experiment")
			var fe *features.FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("error %v, want a field error on %s", err, c.field)
			}
		})
	}
}

func TestCloneSharesNothing(t *testing.T) {
	d := validDefinition()
	d.Namespace = &NamespaceSpec{ID: "ns", Range: [2]float64{0, 0.5}}
	c := d.Clone()
	c.Arms[0].Name = "changed"
	*c.Guardrails[0].MaxRelativeDrop = 0.9
	c.Guardrails[0].Segments[0] = "first_contact"
	c.Namespace.ID = "other"
	if d.Arms[0].Name != "control" || *d.Guardrails[0].MaxRelativeDrop != 0.05 || d.Guardrails[0].Segments[0] != "tier" || d.Namespace.ID != "ns" {
		t.Fatalf("clone shares state with the original: %+v", d)
	}
}

func TestGuardrailTolerance(t *testing.T) {
	for _, c := range []struct {
		g     Guardrail
		bound float64
		lower bool
	}{
		{Guardrail{Metric: "resolved", MaxRelativeDrop: ptr(0.05)}, -0.05, true},
		{Guardrail{Metric: "churned", MaxRelativeRise: ptr(0.1)}, 0.1, false},
	} {
		b, lower := c.g.Tolerance()
		if b != c.bound || lower != c.lower {
			t.Errorf("%+v: tolerance %g %v, want %g %v", c.g, b, lower, c.bound, c.lower)
		}
	}
}

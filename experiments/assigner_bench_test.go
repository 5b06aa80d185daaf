package experiments_test

import (
	"testing"

	"situ/experiments"
	"situ/features"
	"situ/policy"
)

// BenchmarkAssigner assigns a phone call under three running experiments:
// one targeted at chat (its condition runs and fails), one in a
// namespace, one for everyone; and under none. "three-shared-env" is
// AssignEnv with the request boxed once, as the engine shares it with
// the service policy (which builds it anyway).
func BenchmarkAssigner(b *testing.B) {
	chat := def("chat-only", 0.5, 0.5)
	chat.Targeting = "channel == 'chat'"
	spaced := def("spaced", 0.5, 0.5)
	spaced.Namespace = &experiments.NamespaceSpec{ID: "ns", Range: [2]float64{0, 0.5}}
	three, err := experiments.NewAssigner([]experiments.Experiment{running(chat), running(spaced), running(def("everyone", 0.5, 0.5))})
	if err != nil {
		b.Fatal(err)
	}
	c := &features.Context{Customer: features.Customer{ID: "c-1842", LifetimeValue: 5400, Tier: "gold"}, Intent: features.Intent{Name: "billing_dispute"}, Channel: "phone"}
	var env any = policy.NewEnv(c, false)
	for _, bc := range []struct {
		name   string
		a      *experiments.Assigner
		shared bool
	}{{"none", nil, false}, {"three", three, false}, {"three-shared-env", three, true}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if bc.shared {
					bc.a.AssignEnv(c, env)
				} else {
					bc.a.Assign(c, false)
				}
			}
		})
	}
}

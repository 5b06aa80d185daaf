package feedback

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// counterFunc exposes an atomic counter as a Prometheus counter, so hot
// paths pay one atomic add and Stats reads the same numbers.
func counterFunc(v *atomic.Uint64, name, help string, labels prometheus.Labels) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
		func() float64 { return float64(v.Load()) })
}

// register registers every collector with reg (nil: none). On failure it
// unregisters what it registered, so a constructor can fail cleanly.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return fmt.Errorf("register metrics: already registered (one component per registry): %w", err)
			}
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

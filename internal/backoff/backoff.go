// Package backoff paces retries: capped exponential pauses with jitter,
// waited on under a context.
package backoff

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy describes the pauses between attempts. Zero fields take the
// defaults.
type Policy struct {
	// First is the pause after the first failure. Default 100ms.
	First time.Duration
	// Max caps every pause. Default 30s.
	Max time.Duration
	// Factor multiplies the pause after each failure. Default 2.
	Factor float64
	// Jitter spreads each pause uniformly over ±Jitter of it, so that
	// processes failing together do not retry together. Default 0.2; a
	// negative value means none.
	Jitter float64
	// Rand returns a number in [0, 1) for the jitter. Default
	// math/rand/v2's Float64.
	Rand func() float64
	// After is the clock Wait waits on. Default time.After.
	After func(time.Duration) <-chan time.Time
}

// Backoff hands out the pauses of one run of retries. It is not safe for
// concurrent use.
type Backoff struct {
	p    Policy
	base time.Duration // the pause before jitter of the next Next
}

// New checks p and returns a Backoff at its first pause.
func New(p Policy) (*Backoff, error) {
	if p.First == 0 {
		p.First = 100 * time.Millisecond
	}
	if p.Max == 0 {
		p.Max = 30 * time.Second
	}
	if p.Factor == 0 {
		p.Factor = 2
	}
	switch {
	case p.Jitter == 0:
		p.Jitter = 0.2
	case p.Jitter < 0:
		p.Jitter = 0
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	if p.After == nil {
		p.After = time.After
	}
	switch {
	case p.First < 0 || p.Max < p.First:
		return nil, fmt.Errorf("backoff: need 0 < first ≤ max, got first %s, max %s", p.First, p.Max)
	case !(p.Factor >= 1):
		return nil, fmt.Errorf("backoff: factor must be at least 1, got %g", p.Factor)
	case p.Jitter >= 1:
		return nil, fmt.Errorf("backoff: jitter must be below 1, got %g", p.Jitter)
	}
	return &Backoff{p: p, base: p.First}, nil
}

// Next returns the pause before the next attempt and grows the one after.
func (b *Backoff) Next() time.Duration {
	d := b.base
	b.base = min(time.Duration(float64(b.base)*b.p.Factor), b.p.Max)
	if b.p.Jitter > 0 {
		d = time.Duration(float64(d) * (1 - b.p.Jitter + 2*b.p.Jitter*b.p.Rand()))
	}
	return d
}

// Reset makes the next pause the first one again: call it after a success.
func (b *Backoff) Reset() { b.base = b.p.First }

// Wait pauses for Next. It returns ctx's error if ctx ends first.
func (b *Backoff) Wait(ctx context.Context) error { return b.Sleep(ctx, b.Next()) }

// Sleep pauses for d on the policy's clock. It returns ctx's error if ctx
// ends first.
func (b *Backoff) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.p.After(d):
		return nil
	}
}

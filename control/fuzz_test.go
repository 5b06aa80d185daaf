package control

import (
	"bytes"
	"testing"
)

// A record that decodes encodes to bytes that decode to the same record.
func FuzzDecodeRecord(f *testing.F) {
	env := Env{}
	if e, ok := fuzzEnv(); ok {
		env = e
	}
	if env.Schema != nil {
		h := NewHistory(mustDefault())
		if r, err := h.Propose(Change{Levers: map[string]float64{"pamper_upsell": -0.05}, Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Pin: true, Set: f64(0.3)}}}, "ana", "seed", nil, t0, env); err == nil {
			if b, err := EncodeRecord(r); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"format_version":1,"version":1,"author":"a","reason":"r","time":"2026-01-01T00:00:00Z","kinds":[],"change":{},"before":{},"after":{}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRecord(data)
		if err != nil {
			return
		}
		b, err := EncodeRecord(r)
		if err != nil {
			t.Fatalf("encode a decoded record: %v", err)
		}
		back, err := DecodeRecord(b)
		if err != nil {
			t.Fatalf("decode an encoded record: %v\n%s", err, b)
		}
		b2, err := EncodeRecord(back)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("round trip not stable (%v)\n%s\n%s", err, b, b2)
		}
	})
}

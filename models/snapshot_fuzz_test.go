package models_test

import (
	"bytes"
	"testing"
	"time"

	"situ/features"
	"situ/models"
)

// FuzzDecodeSnapshot feeds arbitrary nba.models values to the decoder a
// replica and the learner use: nothing panics, not even binding what
// decodes to the service schema and scoring with it, and what decodes
// encodes to bytes that decode to the same bytes again.
func FuzzDecodeSnapshot(f *testing.F) {
	s := schema(f)
	l, err := models.NewOnlineLearner(zeroModel(f), models.LearnerConfig{})
	if err != nil {
		f.Fatal(err)
	}
	if i, ok := s.Index("channel=app"); ok {
		l.Update(features.SelfService, []features.Entry{{Index: i, Value: 1}}, 0.5, 1)
	}
	snap := models.NewSnapshot(l.Model(3), 1, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	seed, err := snap.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(bytes.Replace(seed, []byte(`"format_version":2`), []byte(`"format_version":1`), 1))
	f.Add([]byte(`{"format_version":2,"model":{"name":"m","version":1,"schema_version":1,"weights":{"fast_resolution":{"bias":1e308}}}}`))
	f.Add([]byte(`{"format_version":2}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := models.DecodeSnapshot(data)
		if err != nil {
			return
		}
		b, err := got.Encode()
		if err != nil {
			return // e.g. a time JSON cannot carry (year beyond 9999)
		}
		back, err := models.DecodeSnapshot(b)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", b, err)
		}
		b2, err := back.Encode()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("round trip not stable (%v):\n%s\n%s", err, b, b2)
		}
		m, err := got.Bind(s)
		if err != nil {
			return
		}
		x := []features.Entry{{Index: 0, Value: 1}}
		for _, tr := range features.Treatments() {
			_ = m.Score(tr, x)
		}
		_ = m.Spec()
	})
}

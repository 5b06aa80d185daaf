package models_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/features"
	"situ/models"
)

// TestSnapshotOfTheDefaultSchemaStaysSmall: a snapshot of the default
// schema's model with every weight set (the worst case for its sparse
// encoding) stays far below the models topic's 1 MB message limit.
// go test -run TestSnapshotOfTheDefaultSchemaStaysSmall -v ./models prints its size.
func TestSnapshotOfTheDefaultSchemaStaysSmall(t *testing.T) {
	s, err := features.DefaultSchema()
	require.NoError(t, err)
	m, err := models.DefaultModel(s)
	require.NoError(t, err)
	b := models.NewBuilder(m)
	for tr := features.Treatment(0); tr < features.NumTreatments; tr++ {
		w := b.Weights(tr)
		for i := range w {
			w[i] = -0.123456789012345 + float64(i)*1e-9 // 17 significant digits each
		}
	}
	snap := models.NewSnapshot(b.Build(123456), 1, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	enc, err := snap.Encode()
	require.NoError(t, err)
	t.Logf("default schema: %d features, snapshot with every weight set: %d bytes", s.Len(), len(enc))
	require.Less(t, len(enc), 64<<10, "a default-schema snapshot must stay far below the 1 MB message limit")
}

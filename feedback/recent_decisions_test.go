package feedback

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"situ/models"
)

// TestRecentDecisions adds values of random sizes to a small cache over
// three partitions and checks, after each add, that it holds exactly the
// newest values that fit in its bytes, each with its own bytes.
func TestRecentDecisions(t *testing.T) {
	const limit = 4096
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0))
			r := newRecentDecisions(limit)
			type added struct {
				pos models.DecisionPos
				v   []byte
			}
			var all []added
			next := map[int32]int64{}
			for i := range 3000 {
				p := int32(rng.IntN(3))
				if rng.Float64() < 0.7 && len(all) > 0 {
					p = all[len(all)-1].pos.Partition // runs of one partition, as rounds read
				}
				pos := models.DecisionPos{Partition: p, Offset: next[p]}
				next[p] += 1 + int64(rng.IntN(3)) // gaps: compaction or transaction markers
				v := make([]byte, 1+rng.IntN(300))
				for k := range v {
					v[k] = byte(i + k)
				}
				r.add(pos, v)
				all = append(all, added{pos, v})
				// the newest values are kept, back to the first that may
				// have been overwritten (the ring wastes at most one value's
				// room when a value does not fit before its end)
				bytes := 0
				for k := len(all) - 1; k >= 0; k-- {
					bytes += len(all[k].v)
					got, ok := r.get(all[k].pos)
					switch {
					case bytes <= limit-300:
						require.True(t, ok, "value %d of %d (%d bytes back) forgotten", k, len(all), bytes)
						require.Equal(t, all[k].v, got)
					case ok:
						require.Equal(t, all[k].v, got)
					}
					if bytes > 2*limit {
						require.False(t, ok, "value %d of %d (%d bytes back) still kept", k, len(all), bytes)
						break
					}
				}
			}
		})
	}
}

func TestRecentDecisionsIgnores(t *testing.T) {
	r := newRecentDecisions(1024)
	at := func(p int32, off int64) models.DecisionPos { return models.DecisionPos{Partition: p, Offset: off} }
	r.add(at(0, 5), []byte("five"))
	r.add(at(0, 5), []byte("again"))        // the same offset: kept once
	r.add(at(0, 4), []byte("four"))         // before the last one of its partition
	r.add(at(1, 4), []byte("other"))        // another partition
	r.add(at(0, 6), make([]byte, 1024/4+1)) // larger than a quarter of the cache
	for _, tc := range []struct {
		pos  models.DecisionPos
		want string
		ok   bool
	}{{at(0, 5), "five", true}, {at(0, 4), "", false}, {at(1, 4), "other", true}, {at(0, 6), "", false}, {at(2, 5), "", false}} {
		got, ok := r.get(tc.pos)
		require.Equal(t, tc.ok, ok, "%+v", tc.pos)
		require.Equal(t, tc.want, string(got), "%+v", tc.pos)
	}
}

package feedback

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/segmentio/kafka-go"

	"situ/models"
)

// The join's late tier (models.CompactJoiner) keeps no hash of a
// decision's id: a part it looks up gives offset ranges of nba.decisions
// that can hold its decision (by the time of its UUIDv7 id). At the end
// of the round the loop reads those ranges again, partition by
// partition, compares the message keys with the ids looked up (no JSON
// is decoded), keeps the values of the decisions found (they are learned
// from next) and hands the offsets to the join, which resolves what
// waited in its order.

// lateFound is what the re-read of one partition's late ranges found.
type lateFound struct {
	p      int32
	offs   map[string][]int64 // id → offsets whose key is the id, ascending
	values map[models.DecisionPos][]byte
	bytes  int64 // bytes of the records read
	err    error
}

// resolveLate reads again the ranges the join's late tier asks for and
// resolves its lookups; it returns the matches each placeholder stands
// for (models.CompactJoiner.ResolveLate) and, through into, the values
// of the decisions found.
func (l *LearningLoop) resolveLate(ctx context.Context, into map[models.DecisionPos][]byte) ([][]models.Match, error) {
	reads := l.joiner.LateReads()
	results := make(chan lateFound, len(reads))
	for p, r := range reads {
		go func() { results <- l.scanKeys(ctx, p, r) }()
	}
	found := map[int32]map[string][]int64{}
	var err error
	for range reads {
		r := <-results
		if r.err != nil && err == nil {
			err = r.err
		}
		found[r.p] = r.offs
		for pos, v := range r.values {
			into[pos] = v
		}
		l.lateReadBytes.Add(uint64(r.bytes))
	}
	if err != nil {
		return nil, err
	}
	return l.joiner.ResolveLate(func(p int32, id string) []int64 { return found[p][id] }), nil
}

// scanKeys reads the ranges of r in partition p of nba.decisions and
// finds the records keyed by the ids of r.
func (l *LearningLoop) scanKeys(ctx context.Context, p int32, r *models.LateRead) lateFound {
	out := lateFound{p: p, offs: map[string][]int64{}, values: map[models.DecisionPos][]byte{}}
	topic := l.cfg.Topics.Decisions
	var key []byte
	for _, rg := range r.Ranges {
		for off := rg[0]; off < rg[1]; {
			resp, err := l.client.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: int(p), Offset: off,
				MinBytes: 1, MaxBytes: reReadBytes, MaxWait: cursorMaxWait})
			if err == nil {
				err = resp.Error
			}
			if err != nil {
				l.decReads.failed(1)
				out.err = fmt.Errorf("read %s/%d@%d again for the late tier: %w", topic, p, off, err)
				return out
			}
			if off < resp.LogStartOffset {
				off = resp.LogStartOffset // deleted by retention: not found
				continue
			}
			if off >= resp.HighWatermark {
				break
			}
			next := off
			for resp.Records != nil {
				rec, err := resp.Records.ReadRecord()
				if err != nil {
					break
				}
				if rec.Offset < off || rec.Offset >= rg[1] {
					closeBytes(rec.Key)
					closeBytes(rec.Value)
					if rec.Offset >= rg[1] {
						next = rg[1]
					}
					continue
				}
				next = rec.Offset + 1
				key, err = appendValue(key[:0], rec.Key)
				if err != nil {
					closeBytes(rec.Value)
					out.err = fmt.Errorf("read %s/%d@%d again for the late tier: %w", topic, p, rec.Offset, err)
					return out
				}
				out.bytes += int64(len(key))
				if _, ok := r.IDs[string(key)]; !ok {
					if rec.Value != nil {
						out.bytes += int64(rec.Value.Len())
					}
					closeBytes(rec.Value)
					continue
				}
				v, err := readValue(rec.Value)
				if err != nil {
					out.err = fmt.Errorf("read %s/%d@%d again for the late tier: %w", topic, p, rec.Offset, err)
					return out
				}
				out.bytes += int64(len(v))
				id := string(bytes.Clone(key))
				out.offs[id] = append(out.offs[id], rec.Offset)
				out.values[models.DecisionPos{Partition: p, Offset: rec.Offset}] = v
				l.decReads.read(1)
			}
			if next <= off {
				next = off + 1 // nothing at this offset (a compaction's or a marker's place)
			}
			off = next
		}
	}
	for _, offs := range out.offs {
		slices.Sort(offs)
	}
	return out
}

// expandLate replaces the round's placeholder matches by what they stand
// for, in their place.
func (l *LearningLoop) expandLate(resolved [][]models.Match) {
	out := make([]match, 0, len(l.matches))
	for _, x := range l.matches {
		if x.Deferred == 0 {
			out = append(out, x)
			continue
		}
		for _, m := range resolved[x.Deferred-1] {
			out = append(out, match{Match: m, outcomeTime: x.outcomeTime})
		}
	}
	clear(l.matches)
	l.matches = out
}

// resolveReplayed resolves the late tier's lookups of parts a restore
// read again: they bring its states up to date and match nothing.
func (l *LearningLoop) resolveReplayed(ctx context.Context) error {
	if !l.joiner.LateLookups() {
		return nil
	}
	_, err := l.resolveLate(ctx, map[models.DecisionPos][]byte{})
	return err
}

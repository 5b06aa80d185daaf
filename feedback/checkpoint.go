package feedback

import (
	"fmt"
	"math/bits"
	"slices"
	"time"

	json "github.com/go-json-experiment/json"

	"situ/models"
)

// CheckpointFormatVersion is the format_version of the checkpoints this
// code writes and the only one it reads.
const CheckpointFormatVersion = 1

// Checkpoint is what a learning loop needs to resume exactly where it
// stopped: the value of a message on the checkpoints topic (compacted,
// key = model name). It holds the whole served model it corresponds to,
// so a restore reads one topic; nba.models carries that model alone.
//
// The loop writes the checkpoint first and the model second. A crash
// between the two leaves nba.models one version behind the checkpoint;
// the restore takes the checkpoint as the truth and republishes its model.
type Checkpoint struct {
	FormatVersion int `json:"format_version"`
	// Model is the served model at this checkpoint.
	Model models.Snapshot `json:"model"`
	// Learner is the optimiser state of the model's weights.
	Learner models.LearnerState `json:"learner"`
	// Offsets holds the next offset to read, per topic and partition.
	Offsets map[string]Offsets `json:"offsets"`
	// Join is the decision/outcome join at the offsets.
	Join JoinCheckpoint `json:"join"`
	// ConfigVersion is the version of the data team's configuration
	// (nba.control) the loop had applied: a restore applies it again
	// before it resumes. Absent is 0.
	ConfigVersion int64 `json:"config_version,omitzero"`
}

// JoinCheckpoint is the join's state in a checkpoint: where the decisions
// still waiting for their outcome are (they are re-read, not copied), the
// outcomes that came before their decision, and the stream time.
type JoinCheckpoint struct {
	// Pending lists, per decisions partition, the [first, last] offset
	// ranges of decisions still waiting for their outcome: what earlier
	// builds wrote, read still; this build writes PendingBits.
	Pending map[int32][][2]int64 `json:"pending,omitempty"`
	// PendingBits marks, per decisions partition, the decisions still
	// waiting for their outcome: one bit per offset from the first of them
	// to the last, whatever the holes joined outcomes leave (24 h at 200
	// decisions/s: 2.2 MB, 2.9 MB in base64).
	PendingBits map[int32]PendingBitmap `json:"pending_bits,omitempty"`
	// Late is the join's late tier (the decisions whose early window
	// closed, waiting for their late fields), per decisions partition:
	// the offsets it spans and, run-length encoded, the few among them
	// that hold none of its decisions. A restore reads them again.
	Late []models.LateRegion `json:"late,omitempty"`
	// Early are outcomes whose decision had not been read yet.
	Early []models.EarlyOutcome `json:"early,omitempty"`
	// StreamTime is the latest decision time seen.
	StreamTime time.Time `json:"stream_time"`
	// OutcomesFrom is, per outcomes partition, where a restore reads the
	// outcomes again to rebuild the part records of the pending decisions
	// (which fields they received, and when); absent: nothing to read.
	OutcomesFrom Offsets `json:"outcomes_from,omitempty"`
}

// Encode returns the checkpoint's JSON.
func (c *Checkpoint) Encode() ([]byte, error) {
	b, err := json.Marshal(c, models.WireEncode)
	if err != nil {
		return nil, fmt.Errorf("encode checkpoint: %w", err)
	}
	return b, nil
}

// DecodeCheckpoint parses a checkpoint message strictly (models.WireDecode)
// and checks its format versions.
func DecodeCheckpoint(b []byte) (Checkpoint, error) {
	var c Checkpoint
	if err := json.Unmarshal(b, &c, models.WireDecode); err != nil {
		return Checkpoint{}, fmt.Errorf("decode checkpoint: %w", err)
	}
	switch {
	case c.FormatVersion != CheckpointFormatVersion:
		return Checkpoint{}, fmt.Errorf("decode checkpoint: format_version %d, this build reads %d", c.FormatVersion, CheckpointFormatVersion)
	case c.Model.FormatVersion != models.SnapshotFormatVersion:
		return Checkpoint{}, fmt.Errorf("decode checkpoint: model format_version %d, this build reads %d", c.Model.FormatVersion, models.SnapshotFormatVersion)
	}
	return c, nil
}

// PendingBitmap marks offsets of one partition: bit i (byte i/8, bit
// i%8, least significant first) stands for offset From+i.
type PendingBitmap struct {
	From int64  `json:"from"`
	Bits []byte `json:"bits"` // base64 in JSON
}

// has reports whether off is marked.
func (b PendingBitmap) has(off int64) bool {
	i := off - b.From
	return i >= 0 && i/8 < int64(len(b.Bits)) && b.Bits[i/8]&(1<<(i%8)) != 0
}

// joinCheckpoint returns j's state for a checkpoint. It walks the pending
// decisions twice (millions of them, every checkpoint): per partition,
// indexed by partition number, without a map.
func joinCheckpoint(j *models.CompactJoiner) JoinCheckpoint {
	s := j.State()
	type span struct {
		first, last int64
		seen        bool
	}
	var spans []span
	j.PendingPositions(func(p models.DecisionPos) {
		if int(p.Partition) >= len(spans) {
			spans = append(spans, make([]span, int(p.Partition)+1-len(spans))...)
		}
		sp := &spans[p.Partition]
		if !sp.seen {
			*sp = span{first: p.Offset, last: p.Offset, seen: true}
			return
		}
		sp.first = min(sp.first, p.Offset)
		sp.last = max(sp.last, p.Offset)
	})
	var bits map[int32]PendingBitmap
	if len(spans) > 0 {
		bits = make(map[int32]PendingBitmap, len(spans))
		marks := make([]PendingBitmap, len(spans))
		for p, sp := range spans {
			if sp.seen {
				marks[p] = PendingBitmap{From: sp.first, Bits: make([]byte, (sp.last-sp.first)/8+1)}
				bits[int32(p)] = marks[p]
			}
		}
		j.PendingPositions(func(p models.DecisionPos) {
			b := &marks[p.Partition]
			i := p.Offset - b.From
			b.Bits[i/8] |= 1 << (i % 8)
		})
	}
	return JoinCheckpoint{PendingBits: bits, Late: s.Late, Early: s.Early, StreamTime: s.StreamTime}
}

// pendingRanges groups decision offsets into sorted [first, last]
// ranges of consecutive offsets, per partition.
func pendingRanges(byPartition map[int32][]int64) map[int32][][2]int64 {
	if len(byPartition) == 0 {
		return nil
	}
	out := make(map[int32][][2]int64, len(byPartition))
	for p, offs := range byPartition {
		slices.Sort(offs)
		var ranges [][2]int64
		for _, o := range offs {
			if n := len(ranges); n > 0 && ranges[n-1][1]+1 == o {
				ranges[n-1][1] = o
				continue
			}
			ranges = append(ranges, [2]int64{o, o})
		}
		out[p] = ranges
	}
	return out
}

// joinReplay says which decisions a restored loop adds to the join again.
// Reading starts at the first pending decision (from); below the
// checkpoint's next decision offsets (resume), only the decisions the
// checkpoint lists as pending are added, the others were joined or
// expired before it.
type joinReplay struct {
	resume   Offsets
	keep     map[int32][][2]int64 // checkpoints of earlier builds
	keepBits map[int32]PendingBitmap
}

// from returns, per decisions partition, the offset reading starts at:
// the first pending decision, or the resume offset.
func (r joinReplay) from() Offsets {
	out := r.resume.Clone()
	for p, off := range r.resume {
		if k := r.keep[p]; len(k) > 0 && k[0][0] < off {
			out[p] = k[0][0]
		}
		if b, ok := r.keepBits[p]; ok && b.From < out[p] {
			out[p] = b.From
		}
	}
	return out
}

// pending returns how many decisions the checkpoint lists as pending.
func (r joinReplay) pending() int {
	n := 0
	for _, ranges := range r.keep {
		for _, k := range ranges {
			n += int(k[1] - k[0] + 1)
		}
	}
	for _, b := range r.keepBits {
		for _, c := range b.Bits {
			n += bits.OnesCount8(c)
		}
	}
	return n
}

// adds reports whether the decision at partition p, offset off goes into
// the join.
func (r joinReplay) adds(p int32, off int64) bool {
	end, ok := r.resume[p]
	return !ok || off >= end || inRanges(r.keep[p], off) || r.keepBits[p].has(off)
}

func inRanges(ranges [][2]int64, off int64) bool {
	i, _ := slices.BinarySearchFunc(ranges, off, func(r [2]int64, o int64) int {
		switch {
		case r[1] < o:
			return -1
		case r[0] > o:
			return 1
		}
		return 0
	})
	return i < len(ranges) && ranges[i][0] <= off && off <= ranges[i][1]
}

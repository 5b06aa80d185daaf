package feedback

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cespare/xxhash/v2"
	json "github.com/go-json-experiment/json"

	"situ/models"
)

// The join snapshot is a local copy of the learner's join — every pending
// decision as the join holds it (the hash of its id, its position, its
// time, the record of its outcome parts) — taken right after a
// checkpoint, in LearningLoopConfig.StateDir. A restore that finds one
// belonging to its checkpoint, or to an earlier checkpoint of the same
// history, loads it instead of reading every pending decision and the
// outcomes of the window again: it then reads only what came after the
// snapshot, up to the checkpoint's offsets (join only, nothing learned).
// A snapshot that is missing, damaged or of another history is ignored
// and the restore reads the topics as without one. It is a cache: the
// checkpoint stays the truth, and the snapshot is not needed for
// exactly-once.
//
// The file: the magic "SITUJS01", the header's length (uint32, little
// endian), the header (JSON, joinSnapshotHeader), for each of its
// LateTiers the blocks of its time index (Blocks × 32 bytes: four
// int64, little endian) and the states of its offsets ((End − ClosedTo)
// × 2 bytes), then Entries entries of joinSnapshotEntryBytes (below), and
// the xxHash64 of everything before it (uint64, little endian).

// JoinSnapshotFile is the join snapshot's name in the state dir.
const JoinSnapshotFile = "join.snapshot"

// JoinSnapshotFormatVersion is the format_version of the header this code
// writes and the only one it reads.
const JoinSnapshotFormatVersion = 2

var joinSnapshotMagic = [8]byte{'S', 'I', 'T', 'U', 'J', 'S', '0', '1'}

// joinSnapshotEntryBytes is the size of one pending decision in the file:
// key (8), partition (2) and offset (6), time (8), per-field times of the
// part record (2 each), the applied fields (1) and whether any part came
// (1).
const joinSnapshotEntryBytes = 8 + 8 + 8 + 2*models.NumOutcomeFields + 2

// maxJoinSnapshotHeader bounds the header (its early outcomes).
const maxJoinSnapshotHeader = 256 << 20

// joinSnapshotHeader says which checkpoint a join snapshot was taken at
// and what it holds besides the entries.
type joinSnapshotHeader struct {
	FormatVersion int    `json:"format_version"`
	Model         string `json:"model"`
	Decisions     string `json:"decisions_topic"`
	Outcomes      string `json:"outcomes_topic"`
	// CheckpointVersion and CheckpointHash (xxHash64 of the checkpoint
	// message's value) name the checkpoint the snapshot was taken at.
	CheckpointVersion int64  `json:"checkpoint_version"`
	CheckpointHash    uint64 `json:"checkpoint_hash"`
	// DecisionOffsets and OutcomeOffsets are the checkpoint's offsets.
	DecisionOffsets Offsets   `json:"decision_offsets"`
	OutcomeOffsets  Offsets   `json:"outcome_offsets"`
	StreamTime      time.Time `json:"stream_time"`
	// Window and LateWindow are the join's windows: a snapshot of other
	// windows is not used.
	WindowNanos     int64 `json:"window_ns"`
	LateWindowNanos int64 `json:"late_window_ns"`
	// Early are the outcomes waiting for their decision at the snapshot:
	// a decision read after it received them when it came.
	Early   []models.EarlyOutcome `json:"early,omitempty"`
	Entries int64                 `json:"entries"`
	// LateTiers are the join's late tiers, by partition: their blocks
	// and states follow the header.
	LateTiers []models.LateTierCopy `json:"late_tiers,omitempty"`
}

// lateTierBytes is the size of the blocks and states of t in the file.
func lateTierBytes(t models.LateTierCopy) int64 { return t.Blocks*32 + (t.End-t.ClosedTo)*2 }

// writeJoinSnapshot writes j's pending decisions with h to path, through
// a temporary file renamed over it (a crash leaves the previous snapshot
// or none, never half of one), and returns the file's size. It is not
// synced to disk: a snapshot damaged by a power loss fails its checksum
// and is ignored.
func writeJoinSnapshot(path string, h joinSnapshotHeader, j *models.CompactJoiner) (int64, error) {
	h.FormatVersion = JoinSnapshotFormatVersion
	h.Entries = int64(j.Pending())
	type tier struct {
		block func(int64) models.LateBlockCopy
		state func(int64) uint16
	}
	var tiers []tier
	h.LateTiers = nil
	_ = j.LateTiers(func(t models.LateTierCopy, block func(int64) models.LateBlockCopy, state func(int64) uint16) error {
		h.LateTiers = append(h.LateTiers, t)
		tiers = append(tiers, tier{block, state})
		return nil
	})
	head, err := json.Marshal(&h, models.WireEncode)
	if err != nil {
		return 0, fmt.Errorf("join snapshot: %w", err)
	}
	if len(head) > maxJoinSnapshotHeader {
		return 0, fmt.Errorf("join snapshot: header of %d bytes exceeds %d", len(head), maxJoinSnapshotHeader)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, fmt.Errorf("join snapshot: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return 0, fmt.Errorf("join snapshot: %w", err)
	}
	defer func() {
		if f != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	sum := xxhash.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, sum), 1<<20)
	var buf [joinSnapshotEntryBytes]byte
	_, _ = w.Write(joinSnapshotMagic[:])
	_, _ = w.Write(binary.LittleEndian.AppendUint32(buf[:0], uint32(len(head))))
	_, _ = w.Write(head)
	for i, t := range h.LateTiers {
		for b := t.FirstBlock; b < t.FirstBlock+t.Blocks; b++ {
			x := tiers[i].block(b)
			for _, v := range [...]int64{x.IDMin, x.IDMax, x.Base, x.Moved} {
				_, _ = w.Write(binary.LittleEndian.AppendUint64(buf[:0], uint64(v)))
			}
		}
		for off := t.ClosedTo; off < t.End; off++ {
			_, _ = w.Write(binary.LittleEndian.AppendUint16(buf[:0], tiers[i].state(off)))
		}
	}
	var n int64
	var entryErr error
	j.PendingEntries(func(e models.PendingEntry) {
		if entryErr != nil {
			return
		}
		if e.Pos.Partition < 0 || e.Pos.Partition > 1<<16-1 || e.Pos.Offset < 0 || e.Pos.Offset >= 1<<48 {
			entryErr = fmt.Errorf("join snapshot: position %d/%d does not fit", e.Pos.Partition, e.Pos.Offset)
			return
		}
		putJoinSnapshotEntry(&buf, e)
		_, entryErr = w.Write(buf[:])
		n++
	})
	if entryErr != nil {
		return 0, entryErr
	}
	if n != h.Entries {
		return 0, fmt.Errorf("join snapshot: %d entries, %d pending", n, h.Entries)
	}
	if err := w.Flush(); err != nil {
		return 0, fmt.Errorf("join snapshot: %w", err)
	}
	if _, err := f.Write(binary.LittleEndian.AppendUint64(nil, sum.Sum64())); err != nil {
		return 0, fmt.Errorf("join snapshot: %w", err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, fmt.Errorf("join snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("join snapshot: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return 0, fmt.Errorf("join snapshot: %w", err)
	}
	f = nil
	return size, nil
}

func putJoinSnapshotEntry(b *[joinSnapshotEntryBytes]byte, e models.PendingEntry) {
	binary.LittleEndian.PutUint64(b[0:], e.Key)
	binary.LittleEndian.PutUint64(b[8:], uint64(e.Pos.Partition)<<48|uint64(e.Pos.Offset))
	binary.LittleEndian.PutUint64(b[16:], uint64(e.Time))
	for f, at := range e.Parts.At {
		binary.LittleEndian.PutUint16(b[24+2*f:], at)
	}
	b[24+2*models.NumOutcomeFields] = byte(e.Parts.Applied)
	b[25+2*models.NumOutcomeFields] = 0
	if e.Parts.Had {
		b[25+2*models.NumOutcomeFields] = 1
	}
}

func joinSnapshotEntry(b []byte) models.PendingEntry {
	pos := binary.LittleEndian.Uint64(b[8:])
	e := models.PendingEntry{
		Key:  binary.LittleEndian.Uint64(b[0:]),
		Pos:  models.DecisionPos{Partition: int32(pos >> 48), Offset: int64(pos & (1<<48 - 1))},
		Time: int64(binary.LittleEndian.Uint64(b[16:])),
	}
	for f := range e.Parts.At {
		e.Parts.At[f] = binary.LittleEndian.Uint16(b[24+2*f:])
	}
	e.Parts.Applied = models.OutcomeFields(b[24+2*models.NumOutcomeFields])
	e.Parts.Had = b[25+2*models.NumOutcomeFields] == 1
	return e
}

// lateTierReader takes a late tier of a join snapshot, reading its
// blocks and states in order with block and state.
type lateTierReader func(t models.LateTierCopy, block func() (models.LateBlockCopy, error), state func() (uint16, error)) error

// errNoJoinSnapshot: the state dir holds no join snapshot.
var errNoJoinSnapshot = errors.New("no join snapshot")

// readJoinSnapshot reads the join snapshot at path: its header goes to
// accept, which says whether to go on; then each entry to add, in the
// order written. It returns the header once the whole file has been read
// and its checksum matched: add may have been given entries of a file
// that then fails (the caller discards what it built of them).
func readJoinSnapshot(path string, accept func(*joinSnapshotHeader) error, late lateTierReader, add func(models.PendingEntry) error) (joinSnapshotHeader, error) {
	var h joinSnapshotHeader
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return h, errNoJoinSnapshot
	}
	if err != nil {
		return h, fmt.Errorf("join snapshot: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return h, fmt.Errorf("join snapshot: %w", err)
	}
	size := st.Size()
	if size < int64(len(joinSnapshotMagic))+4+8 {
		return h, fmt.Errorf("join snapshot: %d bytes, too short", size)
	}
	sum := xxhash.New()
	r := bufio.NewReaderSize(io.TeeReader(io.LimitReader(f, size-8), sum), 1<<20)
	var fixed [len(joinSnapshotMagic) + 4]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return h, fmt.Errorf("join snapshot: %w", err)
	}
	if [8]byte(fixed[:8]) != joinSnapshotMagic {
		return h, errors.New("join snapshot: not a join snapshot of this format")
	}
	hlen := int64(binary.LittleEndian.Uint32(fixed[8:]))
	if hlen > maxJoinSnapshotHeader || hlen > size {
		return h, fmt.Errorf("join snapshot: header of %d bytes in a file of %d", hlen, size)
	}
	head := make([]byte, hlen)
	if _, err := io.ReadFull(r, head); err != nil {
		return h, fmt.Errorf("join snapshot: %w", err)
	}
	if err := json.Unmarshal(head, &h, models.WireDecode); err != nil {
		return h, fmt.Errorf("join snapshot: header: %w", err)
	}
	if h.FormatVersion != JoinSnapshotFormatVersion {
		return h, fmt.Errorf("join snapshot: format_version %d, this build reads %d", h.FormatVersion, JoinSnapshotFormatVersion)
	}
	want := int64(len(fixed)) + hlen + h.Entries*joinSnapshotEntryBytes + 8
	for _, t := range h.LateTiers {
		if t.Blocks < 0 || t.End < t.ClosedTo {
			return h, fmt.Errorf("join snapshot: late tier of partition %d: %d blocks, offsets %d to %d", t.Partition, t.Blocks, t.ClosedTo, t.End)
		}
		want += lateTierBytes(t)
	}
	if h.Entries < 0 || want != size {
		return h, fmt.Errorf("join snapshot: %d bytes, %d entries and the late tiers need %d", size, h.Entries, want)
	}
	if err := accept(&h); err != nil {
		return h, err
	}
	var buf [joinSnapshotEntryBytes]byte
	for _, t := range h.LateTiers {
		block := func() (models.LateBlockCopy, error) {
			if _, err := io.ReadFull(r, buf[:32]); err != nil {
				return models.LateBlockCopy{}, fmt.Errorf("join snapshot: %w", err)
			}
			le := binary.LittleEndian
			return models.LateBlockCopy{IDMin: int64(le.Uint64(buf[0:])), IDMax: int64(le.Uint64(buf[8:])), Base: int64(le.Uint64(buf[16:])), Moved: int64(le.Uint64(buf[24:]))}, nil
		}
		state := func() (uint16, error) {
			if _, err := io.ReadFull(r, buf[:2]); err != nil {
				return 0, fmt.Errorf("join snapshot: %w", err)
			}
			return binary.LittleEndian.Uint16(buf[:2]), nil
		}
		if late == nil {
			if _, err := io.CopyN(io.Discard, r, lateTierBytes(t)); err != nil {
				return h, fmt.Errorf("join snapshot: %w", err)
			}
			continue
		}
		if err := late(t, block, state); err != nil {
			return h, err
		}
	}
	for range h.Entries {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return h, fmt.Errorf("join snapshot: %w", err)
		}
		if err := add(joinSnapshotEntry(buf[:])); err != nil {
			return h, err
		}
	}
	var tail [8]byte
	if _, err := f.ReadAt(tail[:], size-8); err != nil {
		return h, fmt.Errorf("join snapshot: %w", err)
	}
	if got := binary.LittleEndian.Uint64(tail[:]); got != sum.Sum64() {
		return h, fmt.Errorf("join snapshot: checksum %016x, the content's is %016x", got, sum.Sum64())
	}
	return h, nil
}

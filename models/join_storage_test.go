package models

import (
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestJoinStorageTypesHoldNoPointer checks that the types the join keeps
// outside the Go heap (storable) hold no Go pointer, which the collector
// would not see there.
func TestJoinStorageTypesHoldNoPointer(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[compactEntry](), reflect.TypeFor[partRecord](), reflect.TypeFor[int32](), reflect.TypeFor[uint32](), reflect.TypeFor[uint16](), reflect.TypeFor[lateBlock]()} {
		if path, ok := pointerIn(typ, typ.Name()); ok {
			t.Errorf("%s holds a pointer at %s", typ, path)
		}
	}
}

// pointerIn returns the path of a pointer-holding part of typ.
func pointerIn(typ reflect.Type, path string) (string, bool) {
	switch typ.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return "", false
	case reflect.Array:
		return pointerIn(typ.Elem(), path+"[]")
	case reflect.Struct:
		for i := range typ.NumField() {
			f := typ.Field(i)
			if p, ok := pointerIn(f.Type, path+"."+f.Name); ok {
				return p, true
			}
		}
		return "", false
	default:
		return path + " (" + typ.Kind().String() + ")", true
	}
}

// TestJoinStorageFollowsTheQueue fills a joiner with chunks of pending
// decisions, lets their windows close and checks that the storage grows
// with the queue and the table and is returned when the queue's head
// leaves the chunks (one kept for the tail), then released whole when
// the joiner is no longer reachable.
func TestJoinStorageFollowsTheQueue(t *testing.T) {
	const (
		chunk     = 1 << chunkBits
		chunkSize = chunk * (16 + 4 + 16) // an entry, its stamp and its part record
	)
	cases := []struct {
		name       string
		decisions  int
		closeAll   bool
		wantChunks int // chunks of the queue held at the end
	}{
		{"one chunk pending", chunk / 2, false, 1},
		{"three chunks pending", 5 * chunk / 2, false, 3},
		{"every window closed: one chunk kept for the tail, one under way", 5 * chunk / 2, true, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := NewCompactJoiner(JoinConfig{Window: time.Minute, LateWindow: time.Minute, MaxPending: 1_000_000})
			t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
			emit := func(Match) {}
			for i := range tc.decisions {
				j.AddDecision(DecisionPos{Offset: int64(i)}, "d-"+strconv.Itoa(i), t0.Add(time.Duration(i)*time.Microsecond), emit)
			}
			if tc.closeAll {
				j.AddDecision(DecisionPos{Offset: int64(tc.decisions)}, "last", t0.Add(time.Hour), emit)
			}
			table := int64(4 * len(j.table))
			// the late tier's chunks (128 KiB each: states, and the time
			// index of the blocks read), released as its windows close
			late := j.LateStorageBytes()
			const lateChunk = 128 << 10
			if late%lateChunk != 0 || late > 4*lateChunk {
				t.Fatalf("late tier %d bytes, want whole chunks, at most 4", late)
			}
			if got, want := j.StorageBytes(), int64(tc.wantChunks*chunkSize)+table+late; got != want {
				t.Fatalf("storage %d bytes, want %d (%d chunks, a table of %d slots and %d of the late tier); pending %d", got, want, tc.wantChunks, len(j.table), late, j.Pending())
			}
			if mapAnon(1) == nil {
				t.Skip("no anonymous mappings on this OS: the arrays are on the Go heap")
			}
			store := j.store
			if got, want := store.mappings(), 3*tc.wantChunks+1+int(late/lateChunk); got != want {
				t.Fatalf("%d mappings, want %d", got, want)
			}
			j = nil
			for range 100 {
				runtime.GC()
				time.Sleep(time.Millisecond)
				if store.mappings() == 0 {
					return
				}
			}
			t.Fatalf("an unreachable joiner kept %d mappings", store.mappings())
		})
	}
}

// TestCompactQueueKeepsTimes pushes decisions whose times lie near, before
// and far from their chunk's first and checks that the queue gives each
// back to the millisecond, keeps whether it had a part, and forgets the
// far times as its head passes them.
func TestCompactQueueKeepsTimes(t *testing.T) {
	base := time.Date(2026, 11, 22, 10, 0, 0, 123_456_789, time.UTC)
	day := 24 * time.Hour
	cases := []struct {
		name string
		at   time.Time
		far  bool
	}{
		{"the chunk's first", base, false},
		{"a nanosecond later", base.Add(time.Nanosecond), false},
		{"a millisecond later", base.Add(time.Millisecond), false},
		{"5 days before (a restore's next partition)", base.Add(-5 * day), false},
		{"12 days later", base.Add(12 * day), false},
		{"13 days later", base.Add(13 * day), true},
		{"13 days before", base.Add(-13 * day), true},
		{"before 1970", time.Date(1969, 12, 31, 23, 59, 59, 999_999_999, time.UTC), true},
	}
	q := compactQueue{store: newJoinStorage()}
	defer q.store.release()
	for i, tc := range cases {
		seq := q.push(uint64(i+1), uint64(i), tc.at.UnixNano())
		if i%2 == 0 {
			q.markHad(seq)
		}
	}
	if got, want := len(q.far), 3; got != want {
		t.Fatalf("%d far times, want %d", got, want)
	}
	for i, tc := range cases {
		seq := q.head + uint64(i)
		want := tc.at.UnixNano() / int64(time.Millisecond) * int64(time.Millisecond)
		if got := q.time(seq); got != want {
			t.Errorf("%s: time %v, want %v", tc.name, time.Unix(0, got).UTC(), time.Unix(0, want).UTC())
		}
		if _, far := q.far[seq]; far != tc.far {
			t.Errorf("%s: far %v, want %v", tc.name, far, tc.far)
		}
		if got := q.had(seq); got != (i%2 == 0) {
			t.Errorf("%s: had %v, want %v", tc.name, got, i%2 == 0)
		}
	}
	for q.len() > 0 {
		q.pop()
	}
	if len(q.far) != 0 {
		t.Fatalf("%d far times kept after every entry left", len(q.far))
	}
}

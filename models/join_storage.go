package models

import (
	"sync"
	"unsafe"
)

// joinStorage owns the arrays that hold a CompactJoiner's pending
// decisions — the queue's chunks, their part records, the hash table and
// the late tier's states and time index —
// in anonymous memory mapped from the operating system, outside the Go
// heap, as VictoriaMetrics/fastcache keeps its buckets' chunks. They are
// most of the learner's memory (about 44 bytes per pending decision,
// 722 MiB for a 24 h window at 200 decisions/s, and 2.25 per decision in
// the late tier, 229 MiB for 6 more days) and hold no Go pointer.
// On the Go heap the collector would let the heap grow to about twice
// them before collecting (GOGC 100): the 821 MiB of arrays the join took
// before its slimmer entries made 1.3 GiB of RSS. Outside it, the heap
// goal follows the small heap that is left, and an array released (a
// chunk the queue's head left, the table before its doubling) is
// returned to the OS at once. Where the OS has no
// anonymous mappings (mapAnon returns nil), or a mapping fails, the
// arrays are made on the Go heap instead.
//
// A joinStorage is released as a whole (release) when its joiner becomes
// unreachable (runtime.AddCleanup in NewCompactJoiner).
type joinStorage struct {
	// mu orders release, which runs on the runtime's cleanup goroutine,
	// with mappings, the only other reader of mapped once the joiner is
	// gone
	mu sync.Mutex
	// mapped are the live mappings: start → length in bytes
	mapped map[unsafe.Pointer]uintptr
	// bytes are the bytes of the live arrays, mapped or on the heap
	bytes int64
}

// storable lists the element types joinStorage may hold. None holds a Go
// pointer: the collector does not scan memory outside its heap, so a
// pointer there would not keep its target alive
// (TestJoinStorageTypesHoldNoPointer).
type storable interface {
	compactEntry | partRecord | int32 | uint32 | uint16 | lateBlock
}

func newJoinStorage() *joinStorage {
	return &joinStorage{mapped: map[unsafe.Pointer]uintptr{}}
}

// makeStored returns n zeroed values of T from s.
func makeStored[T storable](s *joinStorage, n int) []T {
	var zero T
	size := uintptr(n) * unsafe.Sizeof(zero)
	s.bytes += int64(size)
	if p := mapAnon(size); p != nil {
		s.mapped[p] = size
		return unsafe.Slice((*T)(p), n)
	}
	return make([]T, n)
}

// freeStored returns a, made by makeStored, to s; a must not be used
// after.
func freeStored[T storable](s *joinStorage, a []T) {
	if cap(a) == 0 {
		return
	}
	var zero T
	s.bytes -= int64(uintptr(cap(a)) * unsafe.Sizeof(zero))
	p := unsafe.Pointer(unsafe.SliceData(a))
	if size, ok := s.mapped[p]; ok {
		delete(s.mapped, p)
		unmapAnon(p, size)
	}
}

// release unmaps every array of s.
func (s *joinStorage) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, size := range s.mapped {
		unmapAnon(p, size)
	}
	clear(s.mapped)
	s.bytes = 0
}

// mappings returns the number of live mappings.
func (s *joinStorage) mappings() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mapped)
}

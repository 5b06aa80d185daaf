//go:build linux || darwin || freebsd

package models

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapAnon maps size bytes of zeroed private memory, outside the Go heap;
// nil when the mapping fails. A mapping of hugeBytes or more (the hash
// table from about 800,000 pending decisions; the queue's chunks are
// smaller) is advised to use huge pages where the OS has them.
func mapAnon(size uintptr) unsafe.Pointer {
	if size == 0 {
		return nil
	}
	p, err := unix.MmapPtr(-1, 0, nil, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	if size >= hugeBytes {
		adviseHuge(unsafe.Slice((*byte)(p), size))
	}
	return p
}

// hugeBytes is the size from which a mapping is advised to use huge
// pages. A lookup probes the hash table at a random place: on 4 KiB
// pages each probe of a large table misses the TLB as well as the cache;
// on 2 MiB pages the probes of BenchmarkCompactJoinerPending24h took a
// fifth less time (docs/benchmarks.md). The table is filled evenly, so
// huge pages take no more memory than small ones would.
const hugeBytes = 4 << 20

// unmapAnon releases a mapping of mapAnon.
func unmapAnon(p unsafe.Pointer, size uintptr) {
	_ = unix.MunmapPtr(p, size) // fails only for an address mapAnon did not return
}

//go:build linux || darwin || freebsd

package models

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapAnon maps size bytes of zeroed private memory, outside the Go heap;
// nil when the mapping fails.
func mapAnon(size uintptr) unsafe.Pointer {
	if size == 0 {
		return nil
	}
	p, err := unix.MmapPtr(-1, 0, nil, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	return p
}

// unmapAnon releases a mapping of mapAnon.
func unmapAnon(p unsafe.Pointer, size uintptr) {
	_ = unix.MunmapPtr(p, size) // fails only for an address mapAnon did not return
}

//go:build !(linux || darwin || freebsd)

package models

import "unsafe"

// mapAnon returns nil: on this OS the join's arrays are made on the Go
// heap.
func mapAnon(uintptr) unsafe.Pointer { return nil }

func unmapAnon(unsafe.Pointer, uintptr) {}

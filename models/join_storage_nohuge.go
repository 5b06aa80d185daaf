//go:build darwin || freebsd

package models

// adviseHuge does nothing: huge pages for anonymous mappings are asked
// for only on Linux.
func adviseHuge([]byte) {}

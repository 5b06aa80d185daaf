package models

import "golang.org/x/sys/unix"

// adviseHuge asks Linux to back b with transparent huge pages (with
// /sys/kernel/mm/transparent_hugepage/enabled at "madvise" or "always";
// ignored at "never").
func adviseHuge(b []byte) {
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // advice only: small pages do as well, slower
}

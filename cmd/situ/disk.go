package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"

	"go.uber.org/zap"
)

// minFreeDataDirBytes is the free space under the embedded broker's data
// dir below which the process is not ready: a batch of 500 decision events
// is about 0.4 MiB, so below it writes are about to fail with "no space
// left on device".
const minFreeDataDirBytes = 4 << 20

// dataDirSpace is the readiness check of a process that runs the embedded
// broker: not ready while the file system of dir has less than minFree
// bytes free for an unprivileged writer. It logs an error when space runs
// out and an info line when it is back, once each time, so that a full
// disk shows in /readyz and in the log while the process keeps running
// (the broker refuses the writes it cannot persist; nothing restarts).
func dataDirSpace(dir string, minFree uint64, log *zap.Logger) func(context.Context) error {
	var low atomic.Bool
	return func(context.Context) error {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			return fmt.Errorf("data dir %s: %w", dir, err)
		}
		free := st.Bavail * uint64(st.Bsize)
		if free < minFree {
			if !low.Swap(true) {
				log.Error("the embedded broker's data dir is (nearly) full: not ready; free space there",
					zap.String("data_dir", dir), zap.Uint64("free_bytes", free), zap.Uint64("min_free_bytes", minFree))
			}
			return fmt.Errorf("the embedded broker's data dir %s has %d bytes free, less than %d: free space there (writes fail with \"no space left on device\")", dir, free, minFree)
		}
		if low.Swap(false) {
			log.Info("the embedded broker's data dir has space again", zap.String("data_dir", dir), zap.Uint64("free_bytes", free))
		}
		return nil
	}
}

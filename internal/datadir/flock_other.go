//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package datadir

import (
	"errors"
	"os"
)

// tryLock has no advisory lock to take on this platform.
func tryLock(*os.File) (bool, error) {
	return false, errors.New("locking a data dir needs flock(2), which this platform lacks")
}

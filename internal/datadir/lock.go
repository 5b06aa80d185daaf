package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	json "github.com/go-json-experiment/json"
)

// LockFile is the name of the lock file inside the data dir.
const LockFile = "situ.lock"

// Holder describes the process that holds a data dir.
type Holder struct {
	PID int `json:"pid"`
	// Role is the --role of the process (all, api, learner, broker).
	Role string `json:"role"`
	// HTTPAddr is the address its HTTP API listens on.
	HTTPAddr string `json:"http_addr,omitempty"`
	// BrokerAddr is the address of the embedded broker it runs, if any.
	BrokerAddr string `json:"broker_addr,omitempty"`
	// Since is when it took the lock.
	Since time.Time `json:"since"`
}

// String reads "pid 1234 (role all, http 127.0.0.1:8080, broker
// 127.0.0.1:9092) since 2026-11-22T10:00:00Z".
func (h Holder) String() string {
	parts := []string{"role " + h.Role}
	if h.HTTPAddr != "" {
		parts = append(parts, "http "+h.HTTPAddr)
	}
	if h.BrokerAddr != "" {
		parts = append(parts, "broker "+h.BrokerAddr)
	}
	return fmt.Sprintf("pid %d (%s) since %s", h.PID, strings.Join(parts, ", "), h.Since.Format(time.RFC3339))
}

// InUseError is returned by Acquire when another process holds the data
// dir. Holder is what that process recorded; Unknown is set (and Holder
// empty) when its record could not be read.
type InUseError struct {
	Dir     string
	Holder  Holder
	Unknown error
}

func (e *InUseError) Error() string {
	if e.Unknown != nil {
		return fmt.Sprintf("data dir %s is in use by another process (its %s could not be read: %v)", e.Dir, LockFile, e.Unknown)
	}
	return fmt.Sprintf("data dir %s is in use by %s", e.Dir, e.Holder)
}

// ErrInUse matches every *InUseError with errors.Is.
var ErrInUse = errors.New("data dir in use")

// Is makes errors.Is(err, ErrInUse) true for an *InUseError.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// Lock is an exclusive lock on a data dir, held until Release or the end
// of the process.
type Lock struct {
	dir    string
	f      *os.File
	holder Holder
	// inherited is set for a lock taken over from the parent process
	// (Inherit): the record stays the parent's.
	inherited bool
}

// Inherit takes over the lock of dir that a parent process holds and
// passed on as f, a descriptor of dir's lock file (os/exec ExtraFiles).
// The descriptor shares the parent's open file and so its flock: the
// lock is held while either process keeps it open, and the kernel drops
// it once both have exited. Record is a no-op on an inherited lock: the
// lock file keeps naming the parent, the process to stop.
func Inherit(dir string, f *os.File) (*Lock, error) {
	path := filepath.Join(dir, LockFile)
	got, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("inherited data dir lock: %w", err)
	}
	want, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("inherited data dir lock: %w", err)
	}
	if !os.SameFile(got, want) {
		return nil, fmt.Errorf("inherited data dir lock: the descriptor is not %s", path)
	}
	// On the parent's open file, flock succeeds (it already holds the
	// lock); on any other, it fails while a holder is there.
	locked, err := tryLock(f)
	if err != nil {
		return nil, fmt.Errorf("inherited data dir lock %s: %w", path, err)
	}
	if !locked {
		return nil, inUse(dir, path)
	}
	return &Lock{dir: dir, f: f, inherited: true}, nil
}

// Acquire creates dir if needed and locks it for this process, recording
// h (its PID and Since are filled in when zero). When another process holds
// the lock it returns an *InUseError naming that process, without waiting.
// A record left by a process that died is overwritten.
func Acquire(dir string, h Holder) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	locked, err := tryLock(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("data dir lock %s: %w", path, err)
	}
	if !locked {
		_ = f.Close()
		return nil, inUse(dir, path)
	}
	l := &Lock{dir: dir, f: f, holder: Holder{PID: os.Getpid(), Since: time.Now().UTC().Truncate(time.Second)}}
	if err := l.Record(h); err != nil {
		_ = l.Release()
		return nil, err
	}
	return l, nil
}

// Record replaces the holder information in the lock file, e.g. once the
// listeners are bound and their ports known. A zero PID or Since keeps the
// one recorded before.
func (l *Lock) Record(h Holder) error {
	if l.inherited {
		return nil
	}
	if h.PID == 0 {
		h.PID = l.holder.PID
	}
	if h.Since.IsZero() {
		h.Since = l.holder.Since
	}
	l.holder = h
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("data dir lock: %w", err)
	}
	b = append(b, '\n')
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("data dir lock: %w", err)
	}
	if _, err := l.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("data dir lock: %w", err)
	}
	return nil
}

// File returns the open lock file, to pass to a child process that
// Inherit's the lock (os/exec ExtraFiles). It stays owned by l.
func (l *Lock) File() *os.File { return l.f }

// Dir returns the locked directory.
func (l *Lock) Dir() string { return l.dir }

// Release unlocks the data dir. The lock file stays (removing it would let
// two processes lock two different files of one name); its record is stale
// and the next holder overwrites it.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	if err != nil {
		return fmt.Errorf("release data dir lock: %w", err)
	}
	return nil
}

// inUse reads the holder's record. A holder that has just locked may not
// have written it yet: a few short retries cover that moment.
func inUse(dir, path string) error {
	var lastErr error
	for range 5 {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			var h Holder
			if err = json.Unmarshal(b, &h); err == nil && h.PID != 0 {
				return &InUseError{Dir: dir, Holder: h}
			}
		}
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			err = errors.New("empty")
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	return &InUseError{Dir: dir, Unknown: lastErr}
}

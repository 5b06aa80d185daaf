package datadir_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/internal/datadir"
)

func TestAcquire(t *testing.T) {
	first := datadir.Holder{Role: "all", HTTPAddr: "127.0.0.1:8080", BrokerAddr: "127.0.0.1:9092"}
	cases := []struct {
		name string
		// before prepares the dir and returns what to release at the end.
		before  func(t *testing.T, dir string) *datadir.Lock
		wantErr string
	}{
		{name: "new dir", before: func(*testing.T, string) *datadir.Lock { return nil }},
		{name: "stale record of a dead holder is overwritten", before: func(t *testing.T, dir string) *datadir.Lock {
			require.NoError(t, os.WriteFile(filepath.Join(dir, datadir.LockFile), []byte(`{"pid":99999999,"role":"broker"}`), 0o640))
			return nil
		}},
		{name: "garbage in the lock file is overwritten", before: func(t *testing.T, dir string) *datadir.Lock {
			require.NoError(t, os.WriteFile(filepath.Join(dir, datadir.LockFile), []byte("{not json"), 0o640))
			return nil
		}},
		{name: "released by its holder", before: func(t *testing.T, dir string) *datadir.Lock {
			l, err := datadir.Acquire(dir, first)
			require.NoError(t, err)
			require.NoError(t, l.Release())
			return nil
		}},
		{name: "held", before: func(t *testing.T, dir string) *datadir.Lock {
			l, err := datadir.Acquire(dir, first)
			require.NoError(t, err)
			return l
		}, wantErr: "is in use by pid " + itoa(os.Getpid()) + " (role all, http 127.0.0.1:8080, broker 127.0.0.1:9092) since "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			require.NoError(t, os.MkdirAll(dir, 0o750))
			held := tc.before(t, dir)
			defer func() { require.NoError(t, held.Release()) }()

			l, err := datadir.Acquire(dir, datadir.Holder{Role: "api", HTTPAddr: "127.0.0.1:8081"})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, "data dir "+dir+" "+tc.wantErr)
				require.ErrorIs(t, err, datadir.ErrInUse)
				var inUse *datadir.InUseError
				require.True(t, errors.As(err, &inUse))
				require.Equal(t, "all", inUse.Holder.Role)
				return
			}
			require.NoError(t, err)
			defer func() { require.NoError(t, l.Release()) }()
			b, err := os.ReadFile(filepath.Join(dir, datadir.LockFile))
			require.NoError(t, err)
			require.Contains(t, string(b), `"role":"api"`)
			require.Contains(t, string(b), `"pid":`+itoa(os.Getpid()))
		})
	}
}

func TestRecordUpdatesWhatOthersSee(t *testing.T) {
	dir := t.TempDir()
	since := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	l, err := datadir.Acquire(dir, datadir.Holder{Role: "broker", BrokerAddr: "127.0.0.1:0", Since: since})
	require.NoError(t, err)
	defer l.Release()
	require.NoError(t, l.Record(datadir.Holder{PID: os.Getpid(), Role: "broker", HTTPAddr: "127.0.0.1:4000", BrokerAddr: "127.0.0.1:40001", Since: since}))

	_, err = datadir.Acquire(dir, datadir.Holder{Role: "all"})
	require.EqualError(t, err, "data dir "+dir+" is in use by pid "+itoa(os.Getpid())+
		" (role broker, http 127.0.0.1:4000, broker 127.0.0.1:40001) since 2026-11-22T10:00:00Z")
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestInherit: a descriptor of the holder's lock file, as a child process
// inherits it, takes the lock over without touching the record; a
// descriptor of another file, or a lock no one holds through it, is
// refused while the holder is there.
func TestInherit(t *testing.T) {
	dir := t.TempDir()
	held, err := datadir.Acquire(dir, datadir.Holder{Role: "all"})
	require.NoError(t, err)
	defer held.Release()
	record, err := os.ReadFile(filepath.Join(dir, datadir.LockFile))
	require.NoError(t, err)

	// A second open of the lock file is another open file: refused.
	other, err := os.Open(filepath.Join(dir, datadir.LockFile))
	require.NoError(t, err)
	defer other.Close()
	_, err = datadir.Inherit(dir, other)
	require.ErrorIs(t, err, datadir.ErrInUse)

	// Not the lock file: refused.
	stray, err := os.CreateTemp(dir, "stray")
	require.NoError(t, err)
	defer stray.Close()
	_, err = datadir.Inherit(dir, stray)
	require.ErrorContains(t, err, "is not")

	// The holder's open file, as ExtraFiles passes it: taken over.
	l, err := datadir.Inherit(dir, held.File())
	require.NoError(t, err)
	require.NoError(t, l.Record(datadir.Holder{Role: "broker"}))
	after, err := os.ReadFile(filepath.Join(dir, datadir.LockFile))
	require.NoError(t, err)
	require.Equal(t, string(record), string(after), "the record keeps naming the holder")
}

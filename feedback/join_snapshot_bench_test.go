package feedback

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"situ/internal/situtest"
	"situ/models"
)

// BenchmarkJoinSnapshotWeek writes the join snapshot of a week of
// decisions at 200 a second (17.28 million in the 24 h queue, 103.68
// million in the late tier, each with its first part joined:
// situtest.FillWeek) and loads it into an empty join as a restart does,
// then checks that the loaded join holds what was written. It reports the
// file's size and the seconds to write and to load it: a restart from the
// snapshot takes the load plus the reading of what came after the
// snapshot (at most --join-snapshot-every of the topics). The file goes
// to SNAPSHOT_DIR (default: the test's temporary dir), about 920 MiB.
// Run it with `go test -run '^$' -bench JoinSnapshotWeek -benchtime 1x ./feedback`.
func BenchmarkJoinSnapshotWeek(b *testing.B) {
	dir := os.Getenv("SNAPSHOT_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	path := filepath.Join(dir, JoinSnapshotFile)
	defer os.Remove(path)
	cfg := models.JoinConfig{MaxPending: 20_000_000}
	for b.Loop() {
		j := models.NewCompactJoiner(cfg)
		situtest.FillWeek(j)
		h := joinSnapshotHeader{Model: "m", Decisions: "d", Outcomes: "o", StreamTime: j.StreamTime()}
		start := time.Now()
		size, err := writeJoinSnapshot(path, h, j)
		if err != nil {
			b.Fatal(err)
		}
		wrote := time.Since(start)
		pending, late, stats := j.Pending(), j.LateDecisions(), j.Stats()
		state := j.State()
		j = nil
		runtime.GC()

		start = time.Now()
		loaded := models.RestoreCompactJoiner(cfg, state)
		_, err = readJoinSnapshot(path, func(h *joinSnapshotHeader) error {
			loaded.Reserve(int(h.Entries))
			return nil
		}, loaded.AddLateTier, func(e models.PendingEntry) error {
			if !loaded.AddPendingEntry(e) {
				b.Fatalf("entry %+v not added", e.Pos)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		read := time.Since(start)
		if loaded.Pending() != pending || loaded.LateDecisions() != late {
			b.Fatalf("loaded %d pending and %d in the late tier, wrote %d and %d (stats %+v)", loaded.Pending(), loaded.LateDecisions(), pending, late, stats)
		}
		b.ReportMetric(float64(pending), "queue")
		b.ReportMetric(float64(late), "late")
		b.ReportMetric(float64(size)/(1<<20), "file_MiB")
		b.ReportMetric(wrote.Seconds(), "write_s")
		b.ReportMetric(read.Seconds(), "load_s")
		b.ReportMetric(situtest.ProcStatusMiB("VmHWM:"), "rss_peak_MiB")
		runtime.KeepAlive(loaded)
	}
}

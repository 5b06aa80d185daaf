package feedback

import "testing"

// BenchmarkLearnerBacklog measures only the backlog throughput of
// BenchmarkLearnerEndToEnd, for profiling.
func BenchmarkLearnerBacklog(b *testing.B) {
	for b.Loop() {
		benchThroughput(b, 50000)
	}
}

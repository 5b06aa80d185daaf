package simulation

// HeldOutWorld reports whether the world of seed is one of the quality
// benchmark's (make bench-quality, scripts/bench_quality.sh): its worlds
// 101–110, its drifts' worlds 201–205 and the worlds they drift to
// (`situ sim`'s default --drift-world, the seed + 1000) 1201–1205. The
// tuning tools refuse them, so that the benchmark measures defaults that
// were not chosen on it.
func HeldOutWorld(seed uint64) bool {
	return (seed >= 101 && seed <= 110) || (seed >= 201 && seed <= 205) || (seed >= 1201 && seed <= 1205)
}

package experiments

// FNV-1a 32-bit parameters.
const (
	fnvOffset32 uint32 = 0x811c9dc5
	fnvPrime32  uint32 = 0x01000193
)

// Range is a half-open interval [Start, End) of the unit interval: a unit
// whose hash n has Start <= n < End falls in it.
type Range struct {
	Start float64
	End   float64
}

// Contains reports whether n lies in [r.Start, r.End).
func (r Range) Contains(n float64) bool {
	return n >= r.Start && n < r.End
}

// Namespace is the part [Start, End) of a namespace that an experiment
// takes. Experiments in the same namespace whose ranges do not overlap
// never share a unit.
type Namespace struct {
	ID    string
	Start float64
	End   float64
}

// fnv32a continues an FNV-1a 32-bit hash h over the bytes of s.
func fnv32a(h uint32, s string) uint32 {
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= fnvPrime32
	}
	return h
}

// fnv32aDecimal continues an FNV-1a 32-bit hash h over the decimal digits
// of v, as if hashing strconv.FormatUint(uint64(v), 10), without building
// the string.
func fnv32aDecimal(h uint32, v uint32) uint32 {
	var buf [10]byte // 4294967295 has 10 digits
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	for ; i < len(buf); i++ {
		h ^= uint32(buf[i])
		h *= fnvPrime32
	}
	return h
}

// Hash is GrowthBook's deterministic hash of a unit's value under a seed,
// in [0, 1):
//
//   - version 2: fnv32a(str(fnv32a(seed + value))) % 10000 / 10000, where
//     str is the decimal form of the inner 32-bit hash;
//   - version 1: fnv32a(value + seed) % 1000 / 1000 (the original, biased
//     hash, kept for namespaces and for compatibility).
//
// fnv32a is FNV-1a 32-bit with offset basis 0x811c9dc5 and prime
// 0x01000193. Any other version returns (0, false); a caller that treats
// an absent version as 1, as GrowthBook's experiments do, says so itself.
//
// Strings are hashed as their UTF-8 bytes, as the GrowthBook Go SDK
// (growthbook-golang) does. The JavaScript SDK hashes UTF-16 code units
// (String.charCodeAt), so for a seed or value outside ASCII the two SDKs,
// and situ and the JavaScript SDK, assign differently; for ASCII they agree.
//
// The seed and value bytes are hashed in sequence, so Hash does not
// allocate.
func Hash(seed, value string, version int) (float64, bool) {
	switch version {
	case 2:
		return hashV2(fnv32a(fnvOffset32, seed), value), true
	case 1:
		return float64(fnv32a(fnv32a(fnvOffset32, value), seed)%1000) / 1000, true
	default:
		return 0, false
	}
}

// hashV2 is Hash version 2 of value under the seed whose FNV-1a hash is
// seedHash (fnv32a(fnvOffset32, seed)): an assigner hashes each seed once.
func hashV2(seedHash uint32, value string) float64 {
	return float64(fnv32aDecimal(fnvOffset32, fnv32a(seedHash, value))%10000) / 10000
}

// EqualWeights returns n weights of 1/n each; none when n <= 0.
func EqualWeights(n int) []float64 {
	if n <= 0 {
		return []float64{}
	}
	w := make([]float64, n)
	for i := range w {
		w[i] = 1 / float64(n)
	}
	return w
}

// BucketRanges turns an experiment's coverage and arm weights into one
// Range per arm, as GrowthBook's getBucketRanges does:
//
//   - coverage is clamped to [0, 1];
//   - when the weights' count differs from numVariations, or their sum is
//     outside 1 ± 0.01, every arm gets 1/numVariations instead;
//   - arm i starts at the sum of the weights before it and covers
//     coverage × its weight from there, so lowering coverage shrinks each
//     range towards its start and a unit never moves to another arm, it
//     only leaves the experiment.
//
// numVariations <= 0 gives no ranges.
func BucketRanges(numVariations int, coverage float64, weights []float64) []Range {
	if coverage < 0 {
		coverage = 0
	} else if coverage > 1 {
		coverage = 1
	}
	if numVariations < 0 {
		numVariations = 0
	}
	valid := len(weights) == numVariations
	if valid {
		total := 0.0
		for _, w := range weights {
			total += w
		}
		valid = total >= 0.99 && total <= 1.01
	}
	ranges := make([]Range, numVariations)
	equal := 1 / float64(numVariations)
	cumulative := 0.0
	for i := range ranges {
		w := equal
		if valid {
			w = weights[i]
		}
		start := cumulative
		cumulative += w
		ranges[i] = Range{Start: start, End: start + coverage*w}
	}
	return ranges
}

// ChooseVariation returns the index of the first range that contains n,
// or -1 when none does (the unit is outside the experiment's coverage).
func ChooseVariation(n float64, ranges []Range) int {
	for i := range ranges {
		if ranges[i].Contains(n) {
			return i
		}
	}
	return -1
}

// InNamespace reports whether the unit id falls in the namespace's range:
// GrowthBook hashes it with version 1 and the seed "__" + ns.ID (so the
// hashed string is id + "__" + ns.ID), and the unit is in when the hash
// lies in [ns.Start, ns.End).
func InNamespace(id string, ns Namespace) bool {
	h := fnv32a(fnv32a(fnv32a(fnvOffset32, id), "__"), ns.ID)
	n := float64(h%1000) / 1000
	return n >= ns.Start && n < ns.End
}

package models

// SetSeqBits gives j's table slots b bits of queue sequence (and the rest
// of fingerprint), so that tests reach the wrap-around of the sequences
// and fingerprint collisions with short streams.
func SetSeqBits(j *CompactJoiner, b uint) {
	j.seqBits = b
	j.resize(len(j.table))
}

// SeqBits returns the bits of queue sequence in j's table slots.
func SeqBits(j *CompactJoiner) uint { return j.seqBits }

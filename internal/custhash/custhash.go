// Package custhash owns the keyed hash under which a customer id leaves
// the request path (decision events, logs, memory keys): the lowercase hex
// of HMAC-SHA256(key, id), where id is the customer.id exactly as the
// channel sent it (its UTF-8 bytes, no trimming or case folding) and key is
// the bytes of the customer-id key file (every byte, a trailing newline
// included).
//
// Anyone holding the key can reproduce a hash, for example
//
//	Python:     hmac.new(open("customer.key", "rb").read(), id.encode(), hashlib.sha256).hexdigest()
//	PostgreSQL: encode(hmac(convert_to(id, 'UTF8'), key, 'sha256'), 'hex')   -- pgcrypto; key is bytea
//	shell:      printf %s "$ID" | openssl dgst -sha256 -mac HMAC -macopt hexkey:"$(xxd -p -c 256 customer.key)"
//
// Without the key the hash cannot be tested against a guessed id, which a
// plain SHA-256 of a short id would allow.
//
// The package imports nothing but the standard library, so the decision
// path may use it.
package custhash

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"
)

// MinKeyBytes is the shortest customer-id key New accepts: 32 bytes, the
// size of the HMAC-SHA256 output.
const MinKeyBytes = 32

// Len is the length of a hash: 64 hex digits.
const Len = 2 * sha256.Size

// HashCustomerID returns the lowercase hex of HMAC-SHA256(key, id). It is
// the reference definition; on a hot path use a Hasher, which gives the
// same answer without building an HMAC per call.
func HashCustomerID(key []byte, id string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))
}

// Hasher hashes customer ids under one key. It is safe for concurrent
// use; each call borrows a keyed HMAC from a pool, so a warm Hasher
// allocates nothing when the destination has room.
type Hasher struct {
	pool sync.Pool // *state
}

// state is one pooled HMAC with its scratch space.
type state struct {
	mac hash.Hash
	in  []byte // the id's bytes (Write takes a []byte, an id is a string)
	sum [sha256.Size]byte
}

// New returns a Hasher for key, which must be at least MinKeyBytes long.
// The key is copied.
func New(key []byte) (*Hasher, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("customer-id key: %d bytes, at least %d are needed", len(key), MinKeyBytes)
	}
	k := append([]byte(nil), key...)
	h := &Hasher{}
	h.pool.New = func() any { return &state{mac: hmac.New(sha256.New, k), in: make([]byte, 0, 64)} }
	return h, nil
}

// Append appends the hash of id (Len lowercase hex digits) to dst and
// returns the extended slice.
func (h *Hasher) Append(dst []byte, id string) []byte {
	s := h.pool.Get().(*state)
	s.mac.Reset()
	s.in = append(s.in[:0], id...)
	s.mac.Write(s.in)
	sum := s.mac.Sum(s.sum[:0])
	n := len(dst)
	dst = append(dst, make([]byte, Len)...) // no allocation when dst has room
	hex.Encode(dst[n:], sum)
	if cap(s.in) <= 1<<10 { // an unusually long id does not pin its buffer
		h.pool.Put(s)
	}
	return dst
}

// Sum returns the hash of id as a string.
func (h *Hasher) Sum(id string) string {
	var buf [Len]byte
	return string(h.Append(buf[:0], id))
}

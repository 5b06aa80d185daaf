package feedback

import (
	"fmt"
	"sync"
	"time"
)

// DedupConfig configures a DedupCache.
type DedupConfig struct {
	// TTL is how long an id is remembered: the reward window, after which a
	// late duplicate no longer matters. Default 24h.
	TTL time.Duration
	// MaxItems bounds the ids remembered (about 150 bytes each with a
	// UUID id: the default takes some 150 MB when full). When full, expired
	// ids are swept; if none expired, new ids are not remembered and
	// counted in Full. Default 1,000,000: 11.5 ids/s sustained over a 24 h
	// TTL.
	MaxItems int
	// Now is the clock ids expire by. Default time.Now.
	Now func() time.Time
}

// DedupCache remembers ids seen within a TTL so a message delivered twice
// (producer retries, replays) is applied once. It is a map of ids to their
// expiry under a mutex, with an item-count guard; it starts no goroutine
// (expired ids are swept when the cache is full, at most once per sweep
// interval). It is safe for concurrent use.
type DedupCache struct {
	ttl        time.Duration
	maxItems   int
	sweepEvery time.Duration
	now        func() time.Time

	mu        sync.Mutex
	expiry    map[string]time.Time
	lastSweep time.Time
	full      uint64
}

// NewDedupCache returns an empty cache.
func NewDedupCache(cfg DedupConfig) (*DedupCache, error) {
	if cfg.TTL == 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.MaxItems == 0 {
		cfg.MaxItems = 1_000_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TTL < 0 || cfg.MaxItems < 0 {
		return nil, fmt.Errorf("dedup cache: TTL and max items must be positive, got %s and %d", cfg.TTL, cfg.MaxItems)
	}
	return &DedupCache{
		ttl:        cfg.TTL,
		maxItems:   cfg.MaxItems,
		sweepEvery: min(cfg.TTL/10, time.Minute),
		now:        cfg.Now,
		expiry:     make(map[string]time.Time),
	}, nil
}

// Seen reports whether id was added within the TTL.
func (d *DedupCache) Seen(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	exp, ok := d.expiry[id]
	return ok && d.now().Before(exp)
}

// Add remembers id for the TTL. It returns false when the cache is full of
// unexpired ids and id could not be remembered.
func (d *DedupCache) Add(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if _, held := d.expiry[id]; !held && len(d.expiry) >= d.maxItems && !d.sweep(now) {
		d.full++
		return false
	}
	d.expiry[id] = now.Add(d.ttl)
	return true
}

// sweep deletes expired ids, at most once per sweep interval (a sweep scans
// every id under the lock), and reports whether there is room. d.mu must
// be held.
func (d *DedupCache) sweep(now time.Time) bool {
	if now.Sub(d.lastSweep) >= d.sweepEvery {
		d.lastSweep = now
		for id, exp := range d.expiry {
			if !now.Before(exp) {
				delete(d.expiry, id)
			}
		}
	}
	return len(d.expiry) < d.maxItems
}

// Len returns the number of ids held, expired ones not yet swept included.
func (d *DedupCache) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.expiry)
}

// Full returns how many ids could not be remembered because the cache was
// full.
func (d *DedupCache) Full() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.full
}

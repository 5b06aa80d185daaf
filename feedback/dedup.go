package feedback

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patrickmn/go-cache"
)

// DedupConfig configures a DedupCache.
type DedupConfig struct {
	// TTL is how long an id is remembered: the reward window, after which a
	// late duplicate no longer matters. Default 24h.
	TTL time.Duration
	// MaxItems bounds the ids remembered (about 100-150 bytes each: the
	// default takes some 150 MB when full). When full, expired ids are
	// swept; if none expired, new ids are not remembered and counted in
	// Full. Default 1,000,000: 11.5 ids/s sustained over a 24 h TTL.
	MaxItems int
}

// DedupCache remembers ids seen within a TTL so a message delivered twice
// (producer retries, replays) is applied once. It wraps go-cache, which has
// no size bound, with an item-count guard; it starts no goroutine (expired
// ids are swept when the cache is full, at most once per sweep interval).
// It is safe for concurrent use.
type DedupCache struct {
	ids        *cache.Cache
	maxItems   int
	sweepEvery time.Duration

	mu        sync.Mutex
	lastSweep time.Time
	full      atomic.Uint64
}

// NewDedupCache returns an empty cache.
func NewDedupCache(cfg DedupConfig) (*DedupCache, error) {
	if cfg.TTL == 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.MaxItems == 0 {
		cfg.MaxItems = 1_000_000
	}
	if cfg.TTL < 0 || cfg.MaxItems < 0 {
		return nil, fmt.Errorf("dedup cache: TTL and max items must be positive, got %s and %d", cfg.TTL, cfg.MaxItems)
	}
	return &DedupCache{
		// cleanupInterval 0: no janitor goroutine, we sweep ourselves.
		ids:        cache.New(cfg.TTL, 0),
		maxItems:   cfg.MaxItems,
		sweepEvery: min(cfg.TTL/10, time.Minute),
	}, nil
}

// Seen reports whether id was added within the TTL.
func (d *DedupCache) Seen(id string) bool {
	_, ok := d.ids.Get(id)
	return ok
}

// Add remembers id for the TTL. It returns false when the cache is full of
// unexpired ids and id could not be remembered.
func (d *DedupCache) Add(id string) bool {
	if d.ids.ItemCount() >= d.maxItems && !d.sweep() {
		d.full.Add(1)
		return false
	}
	d.ids.SetDefault(id, struct{}{})
	return true
}

// sweep deletes expired ids, at most once per sweep interval (a sweep scans
// every id under go-cache's lock), and reports whether there is room.
func (d *DedupCache) sweep() bool {
	d.mu.Lock()
	if now := time.Now(); now.Sub(d.lastSweep) >= d.sweepEvery {
		d.lastSweep = now
		d.ids.DeleteExpired()
	}
	d.mu.Unlock()
	return d.ids.ItemCount() < d.maxItems
}

// Len returns the number of ids held, expired ones not yet swept included.
func (d *DedupCache) Len() int { return d.ids.ItemCount() }

// Full returns how many ids could not be remembered because the cache was
// full.
func (d *DedupCache) Full() uint64 { return d.full.Load() }

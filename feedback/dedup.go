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
// (producer retries, replays) is applied once. It keeps the ids in go-cache
// (github.com/patrickmn/go-cache), each with its expiry by the configured
// clock as its value (go-cache's own expiry reads the wall clock, which a
// test cannot move), and guards go-cache's missing size bound with an item
// count; it starts no goroutine (expired ids are swept when the cache is
// full, at most once per sweep interval). It is safe for concurrent use.
type DedupCache struct {
	ids        *cache.Cache // id → time.Time it expires at
	ttl        time.Duration
	maxItems   int
	sweepEvery time.Duration
	now        func() time.Time

	mu        sync.Mutex // serialises Add's count check, insert and sweep
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TTL < 0 || cfg.MaxItems < 0 {
		return nil, fmt.Errorf("dedup cache: TTL and max items must be positive, got %s and %d", cfg.TTL, cfg.MaxItems)
	}
	return &DedupCache{
		// no default expiration and no janitor: expiry is by cfg.Now, swept here
		ids:        cache.New(cache.NoExpiration, 0),
		ttl:        cfg.TTL,
		maxItems:   cfg.MaxItems,
		sweepEvery: min(cfg.TTL/10, time.Minute),
		now:        cfg.Now,
	}, nil
}

// Seen reports whether id was added within the TTL.
func (d *DedupCache) Seen(id string) bool {
	v, ok := d.ids.Get(id)
	return ok && d.now().Before(v.(time.Time))
}

// Add remembers id for the TTL. It returns false when the cache is full of
// unexpired ids and id could not be remembered.
func (d *DedupCache) Add(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if _, held := d.ids.Get(id); !held && d.ids.ItemCount() >= d.maxItems && !d.sweep(now) {
		d.full.Add(1)
		return false
	}
	d.ids.Set(id, now.Add(d.ttl), cache.NoExpiration)
	return true
}

// sweep deletes expired ids, at most once per sweep interval (a sweep
// copies and scans every id), and reports whether there is room. d.mu must
// be held.
func (d *DedupCache) sweep(now time.Time) bool {
	if now.Sub(d.lastSweep) >= d.sweepEvery {
		d.lastSweep = now
		for id, it := range d.ids.Items() {
			if !now.Before(it.Object.(time.Time)) {
				d.ids.Delete(id)
			}
		}
	}
	return d.ids.ItemCount() < d.maxItems
}

// Len returns the number of ids held, expired ones not yet swept included.
func (d *DedupCache) Len() int { return d.ids.ItemCount() }

// Full returns how many ids could not be remembered because the cache was
// full.
func (d *DedupCache) Full() uint64 { return d.full.Load() }

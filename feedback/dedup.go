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
	// UUID id: the default takes some 150 MB when full). Ids are forgotten
	// once their TTL has passed, so the cache holds those of one TTL; when
	// that is more than MaxItems, new ids are not remembered and counted in
	// Full. Default 1,000,000: 11.5 ids/s sustained over a 24 h TTL.
	MaxItems int
	// Now is the clock ids expire by. Default time.Now.
	Now func() time.Time
}

// DedupCache remembers ids seen within a TTL so a message delivered twice
// (producer retries, replays) is applied once. It keeps the ids in go-cache
// (github.com/patrickmn/go-cache), each with its expiry by the configured
// clock as its value (go-cache's own expiry reads the wall clock, which a
// test cannot move), and guards go-cache's missing size bound with an item
// count. It starts no goroutine: every Add forgets the ids whose TTL has
// passed, oldest first, from a queue in the order they were added (one TTL
// for all, so that is the order they expire in), so it holds the ids of
// one TTL — rate × TTL — and never scans them all. It is safe for
// concurrent use.
type DedupCache struct {
	ids      *cache.Cache // id → time.Time it expires at
	ttl      time.Duration
	maxItems int
	now      func() time.Time

	mu sync.Mutex // serialises Add's expiry, count check and insert
	// order holds the ids added, oldest first, from head on; an id added
	// again is queued again, and only its last entry deletes it
	order []dedupEntry
	head  int
	full  atomic.Uint64
}

// dedupEntry is an id and the expiry it was added with.
type dedupEntry struct {
	id      string
	expires time.Time
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
		// no default expiration and no janitor: expiry is by cfg.Now, in Add
		ids:      cache.New(cache.NoExpiration, 0),
		ttl:      cfg.TTL,
		maxItems: cfg.MaxItems,
		now:      cfg.Now,
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
	d.expire(now)
	if _, held := d.ids.Get(id); !held && d.ids.ItemCount() >= d.maxItems {
		d.full.Add(1)
		return false
	}
	expires := now.Add(d.ttl)
	d.ids.Set(id, expires, cache.NoExpiration)
	d.order = append(d.order, dedupEntry{id: id, expires: expires})
	return true
}

// expire forgets the ids whose TTL has passed at now. d.mu must be held.
func (d *DedupCache) expire(now time.Time) {
	for d.head < len(d.order) && !now.Before(d.order[d.head].expires) {
		e := d.order[d.head]
		d.order[d.head] = dedupEntry{}
		d.head++
		// an id added again since has a later expiry: its last entry deletes it
		if v, ok := d.ids.Get(e.id); ok && v.(time.Time).Equal(e.expires) {
			d.ids.Delete(e.id)
		}
	}
	// reuse the queue's front once it is mostly spent
	if d.head > 1024 && d.head > len(d.order)/2 {
		n := copy(d.order, d.order[d.head:])
		clear(d.order[n:])
		d.order, d.head = d.order[:n], 0
	}
}

// Len returns the number of ids held, expired ones not yet swept included.
func (d *DedupCache) Len() int { return d.ids.ItemCount() }

// Full returns how many ids could not be remembered because the cache was
// full.
func (d *DedupCache) Full() uint64 { return d.full.Load() }

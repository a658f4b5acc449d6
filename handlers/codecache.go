package handlers

import (
	"hash/maphash"
	"sync"
	"time"

	"healthcode/models/codetoken"
)

// codeReuse is the longest a signed code is handed out again instead of
// signing a new one (and never more than a quarter of the code's life). Signing (Ed25519) is most of the show-code path's
// cost; reusing a code for a few seconds when nothing about it changed cuts
// it to a fraction, while the QR still changes every few seconds and still
// expires at its own time.
const codeReuse = 5 * time.Second

const codeCacheShards = 64

// codeCache remembers recently signed codes by what they say, so the same
// holder asking again within codeReuse gets the same code. A change of
// colour or signing key makes a new code at once. It is safe for concurrent
// use.
type codeCache struct {
	seed maphash.Seed
	// keep is how long an entry is worth keeping; perShard bounds how many
	// entries a shard holds.
	keep     time.Duration
	perShard int
	shards   [codeCacheShards]codeShard
}

type codeShard struct {
	mu        sync.Mutex
	entries   map[string]cachedCode
	lastSweep time.Time
}

type cachedCode struct {
	qr       string
	colour   string
	kid      string
	issuedAt time.Time
	expires  time.Time
	// issuedText and expiresText are the times as the answers show them,
	// formatted once for every answer that hands the code out again.
	issuedText, expiresText string
}

// newCodeCache returns a cache whose entries are kept for keep (and handed
// out again for at most that long), holding at most limit entries.
func newCodeCache(keep time.Duration, limit int) *codeCache {
	c := &codeCache{seed: maphash.MakeSeed(), keep: keep, perShard: max(limit/codeCacheShards, 1)}
	for i := range c.shards {
		c.shards[i].entries = map[string]cachedCode{}
	}
	return c
}

// key names what a code says apart from its times and colour.
func codeKey(cl codetoken.Claims) string {
	return cl.Kind + "\x00" + cl.Subject + "\x00" + cl.Holder + "\x00" + cl.Link + "\x00" + cl.MaskedName + "\x00" + cl.MaskedDoc
}

// get returns a code for claims signed no longer than reuse ago with the
// same colour and key, or false.
func (c *codeCache) get(key, colour, kid string, now time.Time, reuse time.Duration) (cachedCode, bool) {
	sh := &c.shards[maphash.String(c.seed, key)%codeCacheShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.entries[key]
	if !ok || e.colour != colour || e.kid != kid || now.Sub(e.issuedAt) >= reuse || now.Before(e.issuedAt) {
		return cachedCode{}, false
	}
	return e, true
}

// put remembers a freshly signed code, sweeping stale entries now and then
// so the cache holds only codes still worth handing out; a full shard drops
// an arbitrary entry to make room, so the cache stays bounded.
func (c *codeCache) put(key string, e cachedCode, now time.Time) {
	sh := &c.shards[maphash.String(c.seed, key)%codeCacheShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now.Sub(sh.lastSweep) > c.keep {
		for k, old := range sh.entries {
			if now.Sub(old.issuedAt) >= c.keep {
				delete(sh.entries, k)
			}
		}
		sh.lastSweep = now
	}
	if _, held := sh.entries[key]; !held && len(sh.entries) >= c.perShard {
		for k := range sh.entries {
			delete(sh.entries, k)
			break
		}
	}
	sh.entries[key] = e
}

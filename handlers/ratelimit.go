package handlers

import (
	"hash/maphash"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/models"
	"healthcode/models/fault"
)

// limiterShards splits a rate limiter's keys so that requests of different
// callers do not queue on one lock.
const limiterShards = 64

// rateLimiter is a keyed token bucket: each key may spend perMinute tokens
// a minute, with bursts of up to perMinute. Idle keys are swept so the maps
// stay small. It is safe for concurrent use.
type rateLimiter struct {
	clock  models.Clock
	rate   float64 // tokens per second
	burst  float64
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

type limiterShard struct {
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(clock models.Clock, perMinute int) *rateLimiter {
	l := &rateLimiter{clock: clock, rate: float64(perMinute) / 60, burst: float64(perMinute), seed: maphash.MakeSeed()}
	now := clock.Now()
	for i := range l.shards {
		l.shards[i] = limiterShard{buckets: map[string]*bucket{}, lastSweep: now}
	}
	return l
}

// allow spends a token of key. When none is left it reports how long until
// one is.
func (l *rateLimiter) allow(key string) (ok bool, retryAfter time.Duration) {
	now := l.clock.Now()
	sh := &l.shards[maphash.String(l.seed, key)%limiterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now.Sub(sh.lastSweep) > time.Minute {
		l.sweep(sh, now)
	}
	b := sh.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		sh.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// sweep drops buckets that have refilled completely: they hold no state.
func (l *rateLimiter) sweep(sh *limiterShard, now time.Time) {
	for k, b := range sh.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(sh.buckets, k)
		}
	}
	sh.lastSweep = now
}

// errRateLimited answers a caller over its limit.
var errRateLimited = fault.Errorf(kindRateLimited, codeRateLimited, "请求过于频繁，请稍后再试")

// limitBy returns middleware that spends a token of the key keyOf derives
// (an empty key is not limited) and answers 429 with Retry-After when none is
// left.
func (api *API) limitBy(l *rateLimiter, scope string, keyOf func(*gin.Context) string) gin.HandlerFunc {
	return func(c *gin.Context) {
		key := keyOf(c)
		if key == "" {
			c.Next()
			return
		}
		if ok, wait := l.allow(scope + ":" + key); !ok {
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			respondError(c, api.log, errRateLimited)
			return
		}
		c.Next()
	}
}

// clientKey is the client's address, an IPv6 one by its /64: one host (one
// subscriber line) holds a whole /64, and a limit per address would give
// each of its 2^64 addresses a fresh burst.
func clientKey(c *gin.Context) string { return addressKey(c.ClientIP()) }

// addressKey is an IPv4 address as it is (also written IPv4-mapped), an
// IPv6 one as its /64 prefix.
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

func accountKey(c *gin.Context) string {
	if s, ok := sessionOf(c); ok {
		return s.AccountID
	}
	return ""
}

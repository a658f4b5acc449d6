package miniprogram

import (
	"sync"
	"time"

	"healthcode/models"
)

// Cache is a mutex-guarded, expiring in-memory cache for the WeChat SDK's
// access token. The SDK's own memory cache reads its map without a lock,
// which races under concurrent requests. It implements cache.Cache of
// github.com/silenceper/wechat/v2.
type Cache struct {
	mu    sync.Mutex
	clock models.Clock
	items map[string]cacheItem
}

type cacheItem struct {
	val     any
	expires time.Time
}

// NewCache returns an empty cache reading time from clock.
func NewCache(clock models.Clock) *Cache {
	return &Cache{clock: clock, items: map[string]cacheItem{}}
}

// Get returns the value under key, or nil when absent or expired.
func (c *Cache) Get(key string) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.items[key]
	if !ok || !c.clock.Now().Before(it.expires) {
		delete(c.items, key)
		return nil
	}
	return it.val
}

// Set stores val under key for timeout.
func (c *Cache) Set(key string, val any, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items[key] = cacheItem{val: val, expires: c.clock.Now().Add(timeout)}
	return nil
}

// IsExist reports whether key holds a live value.
func (c *Cache) IsExist(key string) bool { return c.Get(key) != nil }

// Delete removes key.
func (c *Cache) Delete(key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.items, key)
	return nil
}

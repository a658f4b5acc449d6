package main

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// slowQuery is the duration from which a query is counted as slow: a
// third of the database's default query deadline (3 s).
const slowQuery = time.Second

// queryProfile adds up, by the statement's first words (at most maxShapes
// shapes), how many statements ran through GORM, how long they took in all
// and at most, and how many took slowQuery or longer: where the database
// time of a step goes, and which statements would meet a deadline. It is
// safe for concurrent use.
type queryProfile struct {
	mu     sync.Mutex
	shapes map[string]*queryShape
}

type queryShape struct {
	count, slow    int
	total, slowest time.Duration
}

const maxShapes = 64

// startedKey is where a statement's start time is kept between callbacks.
const startedKey = "citysim:started"

// watch registers the profile's callbacks on db (its own pool).
func (p *queryProfile) watch(db *gorm.DB) error {
	start := func(tx *gorm.DB) { tx.InstanceSet(startedKey, time.Now()) }
	end := func(tx *gorm.DB) {
		if v, ok := tx.InstanceGet(startedKey); ok {
			p.add(tx.Statement.SQL.String(), time.Since(v.(time.Time)))
		}
	}
	cb := db.Callback()
	for _, r := range []struct {
		before, after interface {
			Register(string, func(*gorm.DB)) error
		}
	}{
		{cb.Create().Before("gorm:create"), cb.Create().After("gorm:create")},
		{cb.Query().Before("gorm:query"), cb.Query().After("gorm:query")},
		{cb.Update().Before("gorm:update"), cb.Update().After("gorm:update")},
		{cb.Delete().Before("gorm:delete"), cb.Delete().After("gorm:delete")},
		{cb.Row().Before("gorm:row"), cb.Row().After("gorm:row")},
		{cb.Raw().Before("gorm:raw"), cb.Raw().After("gorm:raw")},
	} {
		if err := r.before.Register("citysim:start", start); err != nil {
			return err
		}
		if err := r.after.Register("citysim:end", end); err != nil {
			return err
		}
	}
	return nil
}

// add counts a statement.
func (p *queryProfile) add(query string, took time.Duration) {
	shape := query[:min(len(query), 160)]
	if i := strings.IndexAny(shape, "?'0123456789"); i > 0 {
		shape = shape[:i]
	}
	shape = strings.TrimSpace(shape)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shapes == nil {
		p.shapes = map[string]*queryShape{}
	}
	sh, ok := p.shapes[shape]
	if !ok && len(p.shapes) >= maxShapes {
		shape = "(other)"
		sh, ok = p.shapes[shape]
	}
	if !ok {
		sh = &queryShape{}
		p.shapes[shape] = sh
	}
	sh.count++
	sh.total += took
	sh.slowest = max(sh.slowest, took)
	if took >= slowQuery {
		sh.slow++
	}
}

type namedShape struct {
	name string
	queryShape
}

// take returns the shapes counted since the last take, the most time
// first, and starts afresh.
func (p *queryProfile) take() []namedShape {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]namedShape, 0, len(p.shapes))
	for name, sh := range p.shapes {
		out = append(out, namedShape{name, *sh})
	}
	p.shapes = nil
	sort.Slice(out, func(i, j int) bool { return out[i].total > out[j].total })
	return out
}

// printProfile prints where a step's database time went (the top shapes)
// and adds to the figures the shapes with statements of slowQuery or more.
func (c *city) printProfile(step string) {
	for i, sh := range c.queries.take() {
		line := fmt.Sprintf("  db time of %s: %d× %.1f s in all, %.0f ms mean, %.2f s at most, %d ≥ %s: %s",
			step, sh.count, sh.total.Seconds(), 1000*sh.total.Seconds()/float64(sh.count), sh.slowest.Seconds(), sh.slow, slowQuery, sh.name)
		switch {
		case sh.slow > 0:
			c.printf("%s", line)
		case i < 6:
			fmt.Println(line)
		}
	}
}

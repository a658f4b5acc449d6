package models

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"healthcode/models/codetoken"
)

// venueShards is how many maps the registry splits venues into: a change
// copies the shards it touches, never the whole city's venues.
const venueShards = 256

// VenueEntry is what a check-in needs of a venue, held in memory.
type VenueEntry struct {
	State             string
	Generation        int64
	RegistrarPersonNo uint32
}

// VenueBook is the venue registry in memory, so a check-in and a verify
// read no venue from the database: an immutable snapshot of shards swapped
// atomically. A refresh reads only the venues changed since the snapshot's
// version (each row carries the version of its last change) and copies the
// shards they fall in. It is safe for concurrent use.
type VenueBook struct {
	snap atomic.Pointer[venueSnapshot]
	seed maphash.Seed
	// mu serialises refreshes on this node.
	mu sync.Mutex
}

type venueSnapshot struct {
	shards  [venueShards]map[string]VenueEntry
	version int64
	count   int
}

// NewVenueBook returns an empty registry; load it with store.Store.RefreshVenues.
func NewVenueBook() *VenueBook {
	b := &VenueBook{seed: maphash.MakeSeed()}
	b.snap.Store(&venueSnapshot{})
	return b
}

func (b *VenueBook) shard(id string) int { return int(maphash.String(b.seed, id) % venueShards) }

// Venue returns a venue's entry, and false for a venue the registry does
// not hold.
func (b *VenueBook) Venue(id string) (VenueEntry, bool) {
	e, ok := b.snap.Load().shards[b.shard(id)][id]
	return e, ok
}

// Len returns how many venues the registry holds.
func (b *VenueBook) Len() int { return b.snap.Load().count }

// Refresh brings the registry up to the venues read returns: given the
// version the snapshot holds, read returns the venues' version counter and
// the venues changed after the held version up to it. A node's refreshes
// run one at a time. Errors are read's.
func (b *VenueBook) Refresh(read func(held int64) (version int64, changed []Venue, err error)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	held := b.snap.Load()
	v, rows, err := read(held.version)
	if err != nil || v == held.version {
		return err
	}
	next := &venueSnapshot{shards: held.shards, version: v, count: held.count}
	copied := map[int]bool{}
	for _, r := range rows {
		i := b.shard(r.ID)
		if !copied[i] {
			m := make(map[string]VenueEntry, len(held.shards[i])+1)
			for k, e := range held.shards[i] {
				m[k] = e
			}
			next.shards[i], copied[i] = m, true
		}
		if _, had := next.shards[i][r.ID]; !had {
			next.count++
		}
		next.shards[i][r.ID] = VenueEntry{State: r.State, Generation: r.Generation, RegistrarPersonNo: r.RegistrarPersonNo}
	}
	b.snap.Store(next)
	return nil
}

// VenuePolicy lets a venue code stand while its venue is active and the code
// is of its current generation, from the registry in memory.
type VenuePolicy struct{ Venues *VenueBook }

// Revoked returns why a venue code no longer stands, or "".
func (p VenuePolicy) Revoked(_ context.Context, c codetoken.Claims) (string, error) {
	e, ok := p.Venues.Venue(c.Subject)
	switch {
	case !ok:
		return ReasonVenueUnknown, nil
	case e.State == VenueEnded:
		return ReasonVenueEnded, nil
	case e.State == VenueRejected:
		return ReasonVenueRefused, nil
	case c.Serial != e.Generation:
		return ReasonVenueRotated, nil
	case e.State != VenueActive:
		return ReasonVenuePending, nil
	}
	return "", nil
}

// IdentifiesPlace reports true: a venue code names a place, not a person.
func (VenuePolicy) IdentifiesPlace() bool { return true }

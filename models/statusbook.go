package models

import (
	"sync"
	"sync/atomic"
	"time"
)

// StatusBook holds, in memory, the status of every registered person: the
// colour, where it comes from and why, and the latest nucleic-acid result.
// The show-code and verify paths read it without touching the database.
// People are found by their dense number (Person.No), which sessions and
// codes carry, so the book is a paged array of 16-byte cells, not a map.
//
// What readers see is an immutable snapshot, swapped atomically: applying
// changes copies only the pages they touch (and the page table), so readers
// never wait and never see half a change. It is safe for concurrent use;
// changes are applied by one refresher at a time.
type StatusBook struct {
	snap atomic.Pointer[statusSnapshot]

	// mu serialises writers; readers never take it.
	mu sync.Mutex
	// reasonIDs interns reason texts for the writer; the snapshot holds
	// the texts by id.
	reasonIDs map[string]uint32
}

// statusPageSize is how many people a page holds: 4096 cells of 16 bytes.
const statusPageSize = 4096

// maxReasons bounds the distinct reason texts held; beyond it a new reason
// is shown as the colour's own text.
const maxReasons = 1 << 16

// statusCell is one person's status, packed.
type statusCell struct {
	colour  uint8 // 0 green, 1 yellow, 2 red (Colour.rank)
	source  uint8 // index in sourceCodes; 0 none
	nucleic uint8 // NucleicResult code; 0 none
	_       uint8
	reason  uint32 // index in the snapshot's reasons; 0 none
	sampled uint32 // minutes since nucleicEpoch; 0 none
	tested  uint32 // minutes since nucleicEpoch; 0 none
}

type statusSnapshot struct {
	pages   [][]statusCell
	reasons []string
	// seq is the last change-log sequence applied.
	seq    uint64
	loaded bool
}

// nucleicEpoch is where sample times in cells count from (minutes).
var nucleicEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// sourceCodes lists status sources by their cell code.
var sourceCodes = []string{"", SourceCDC, SourceCommunity, SourceNucleicAcid, SourceOperator}

// Nucleic-acid results as the book keeps them.
const (
	NucleicNone          = ""
	NucleicNegative      = "negative"
	NucleicPositive      = "positive"
	NucleicMixedPositive = "mixed_positive"
)

var nucleicCodes = []string{NucleicNone, NucleicNegative, NucleicPositive, NucleicMixedPositive}

// NewStatusBook returns an empty book; load it with store.Store.RefreshStatus.
func NewStatusBook() *StatusBook {
	b := &StatusBook{reasonIDs: map[string]uint32{}}
	b.snap.Store(&statusSnapshot{reasons: []string{""}})
	return b
}

// Of returns the status of the person with number no; a person the book
// does not hold is green.
func (b *StatusBook) Of(no uint32) Status {
	s := b.snap.Load()
	page := int(no / statusPageSize)
	if no == 0 || page >= len(s.pages) || s.pages[page] == nil {
		return green
	}
	c := s.pages[page][no%statusPageSize]
	st := Status{Colour: colourOfRank(c.colour), Source: sourceCodes[c.source], Reason: s.reasons[c.reason]}
	if c.nucleic != 0 {
		st.Nucleic = NucleicStatus{Result: nucleicCodes[c.nucleic], SampledAt: nucleicEpoch.Add(time.Duration(c.sampled) * time.Minute)}
		if c.tested != 0 {
			st.Nucleic.TestedAt = nucleicEpoch.Add(time.Duration(c.tested) * time.Minute)
		}
	}
	return st
}

// Seq returns the last change-log sequence the book holds.
func (b *StatusBook) Seq() uint64 { return b.snap.Load().seq }

// Loaded reports whether the book was loaded once.
func (b *StatusBook) Loaded() bool { return b.snap.Load().loaded }

// Len returns how many people the book has room for (the highest number
// it holds, rounded up to a page).
func (b *StatusBook) Len() int { return len(b.snap.Load().pages) * statusPageSize }

// Update applies changes logged up to seq to the current snapshot and
// publishes the result. Changes at or below the sequence the book already
// holds are skipped, so a late writer never undoes a newer one.
func (b *StatusBook) Update(changes []PersonStatus, seq uint64) {
	w := b.Writer(false)
	defer w.Close()
	w.Set(changes)
	w.Publish(seq)
}

// StatusWriter builds the next snapshot while holding the book's writer
// lock; Close releases it.
type StatusWriter struct {
	b      *StatusBook
	next   *statusSnapshot
	base   uint64
	copied map[int]bool
}

// Writer starts the next snapshot from the current one, or with reset from
// an empty book (a cold load).
func (b *StatusBook) Writer(reset bool) *StatusWriter {
	b.mu.Lock()
	old := b.snap.Load()
	w := &StatusWriter{b: b, copied: map[int]bool{}}
	if reset {
		b.reasonIDs = map[string]uint32{}
		w.next = &statusSnapshot{reasons: []string{""}}
	} else {
		w.base = old.seq
		w.next = &statusSnapshot{pages: append([][]statusCell(nil), old.pages...), reasons: old.reasons, seq: old.seq}
	}
	return w
}

// Set writes people's statuses into the snapshot being built, copying each
// page it touches once.
func (w *StatusWriter) Set(changes []PersonStatus) {
	next := w.next
	for _, ch := range changes {
		if ch.PersonNo == 0 || (w.base > 0 && ch.Seq <= w.base) {
			continue
		}
		page := int(ch.PersonNo / statusPageSize)
		for page >= len(next.pages) {
			next.pages = append(next.pages, nil)
		}
		if !w.copied[page] {
			fresh := make([]statusCell, statusPageSize)
			if next.pages[page] != nil {
				copy(fresh, next.pages[page])
			}
			next.pages[page], w.copied[page] = fresh, true
		}
		next.pages[page][ch.PersonNo%statusPageSize] = w.b.cellOf(ch, next)
	}
}

// Publish makes the snapshot, as of seq, the one readers see.
func (w *StatusWriter) Publish(seq uint64) {
	w.next.seq, w.next.loaded = max(seq, w.next.seq), true
	w.b.snap.Store(w.next)
}

// Close releases the writer lock.
func (w *StatusWriter) Close() { w.b.mu.Unlock() }

// cellOf packs a status, interning its reason in next.
func (b *StatusBook) cellOf(ch PersonStatus, next *statusSnapshot) statusCell {
	c := statusCell{colour: uint8(ch.Colour.rank()), source: uint8(indexOf(sourceCodes, ch.Source)), nucleic: uint8(indexOf(nucleicCodes, ch.NucleicResult))}
	if ch.Reason != "" {
		id, ok := b.reasonIDs[ch.Reason]
		if !ok && len(next.reasons) < maxReasons {
			// The snapshot's slice is shared with older snapshots; appending
			// past its length writes only where none of them reads.
			id, ok = uint32(len(next.reasons)), true
			next.reasons = append(next.reasons, ch.Reason)
			b.reasonIDs[ch.Reason] = id
		}
		if ok {
			c.reason = id
		}
	}
	if c.nucleic != 0 {
		c.sampled, c.tested = nucleicMinutes(ch.SampledAt), nucleicMinutes(ch.TestedAt)
	}
	return c
}

// nucleicMinutes is t in minutes since nucleicEpoch, 0 for none or out of
// range.
func nucleicMinutes(t *time.Time) uint32 {
	if t == nil {
		return 0
	}
	if m := t.Sub(nucleicEpoch) / time.Minute; m > 0 && m < 1<<32 {
		return uint32(m)
	}
	return 0
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return 0
}

// colourOfRank is the inverse of Colour.rank.
func colourOfRank(r uint8) Colour {
	switch r {
	case 2:
		return Red
	case 1:
		return Yellow
	default:
		return Green
	}
}

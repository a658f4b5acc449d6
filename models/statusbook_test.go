package models

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// The book holds everyone in at most 48 bytes a person, and a change copies
// only the pages it touches: readers of the old snapshot keep what they saw.
func TestStatusBookLayout(t *testing.T) {
	book := fillBook(200_000)
	before := heapAfterGC()
	more := fillBook(400_000)
	after := heapAfterGC()
	// more must be live when the heap is read: a book the collector may
	// already take measures nothing, or less than nothing (seen once).
	runtime.KeepAlive(more)
	if after <= before {
		t.Fatalf("the heap did not grow for a book of 400,000 people (%d → %d bytes)", before, after)
	}
	if perPerson := float64(after-before) / 400_000; perPerson > 48 {
		t.Errorf("%.1f heap bytes a person, want at most 48", perPerson)
	}
	old := book.snap.Load()
	sampled := time.Date(2026, 11, 30, 8, 15, 0, 0, time.UTC)
	book.Update([]PersonStatus{
		{PersonNo: 5, Colour: Red, Source: SourceOperator, Reason: "人工更正", Seq: 2},
		{PersonNo: 250_000, Colour: Yellow, Source: SourceNucleicAcid, Reason: "混管阳性", NucleicResult: NucleicMixedPositive, SampledAt: &sampled, Seq: 3},
	}, 3)
	if got := book.Of(5); got.Colour != Red || got.Source != SourceOperator || got.Reason != "人工更正" {
		t.Errorf("person 5 = %+v", got)
	}
	if got := book.Of(250_000); got.Colour != Yellow || got.Nucleic.Result != NucleicMixedPositive || !got.Nucleic.SampledAt.Equal(sampled) {
		t.Errorf("person 250000 (beyond the loaded pages) = %+v", got)
	}
	if got := book.Of(10); got.Colour != Yellow || got.Reason != "居家观察" {
		t.Errorf("an untouched person on a copied page = %+v", got)
	}
	if old.pages[0][5].colour != 0 || &old.pages[1][0] != &book.snap.Load().pages[1][0] {
		t.Error("the old snapshot changed, or an untouched page was copied")
	}
	// A late change at or below the book's sequence does not undo a newer one.
	book.Update([]PersonStatus{{PersonNo: 5, Colour: Green, Seq: 2}}, 2)
	if book.Of(5).Colour != Red || book.Seq() != 3 {
		t.Errorf("a stale change applied: %+v at %d", book.Of(5), book.Seq())
	}
	// Number 0 is nobody: codes and sessions without a number are refused
	// before the book is asked (see the checker and Sessions.verify).
	if got := book.Of(0); got.Colour != Green || got.Source != "" {
		t.Errorf("number 0 = %+v", got)
	}
}

// Readers never wait for a writer and see whole snapshots (run with -race).
func TestStatusBookConcurrentReaders(t *testing.T) {
	book := fillBook(50_000)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for i := uint32(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				book.Of(i % 60_000)
			}
		})
	}
	for i := range 50 {
		book.Update([]PersonStatus{{PersonNo: uint32(i*997 + 1), Colour: Red, Reason: "r", Seq: uint64(i + 2)}}, uint64(i+2))
	}
	close(stop)
	wg.Wait()
}

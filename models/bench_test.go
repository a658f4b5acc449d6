package models

import (
	"runtime"
	"testing"
)

// fillBook loads n people into a book, one in ten yellow, one in a hundred
// red with a reason, as a cold load would.
func fillBook(n int) *StatusBook {
	book := NewStatusBook()
	w := book.Writer(true)
	defer w.Close()
	batch := make([]PersonStatus, 0, 10000)
	for i := 1; i <= n; i++ {
		ps := PersonStatus{PersonNo: uint32(i), Colour: Green}
		switch {
		case i%100 == 0:
			ps.Colour, ps.Source, ps.Reason = Red, SourceCDC, "密接"
		case i%10 == 0:
			ps.Colour, ps.Source, ps.Reason = Yellow, SourceCommunity, "居家观察"
		}
		batch = append(batch, ps)
		if len(batch) == cap(batch) {
			w.Set(batch)
			batch = batch[:0]
		}
	}
	w.Set(batch)
	w.Publish(1)
	return book
}

// BenchmarkStatusLookup reads a colour from a book of 1,000,000 people, as
// the show-code and verify paths do on every request.
func BenchmarkStatusLookup(b *testing.B) {
	book := fillBook(1_000_000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := uint32(0)
		for pb.Next() {
			book.Of(i % 1_100_000)
			i += 7919
		}
	})
}

// BenchmarkStatusApply applies a change of 100,000 people spread over a
// book of 1,000,000 (every page copied once).
func BenchmarkStatusApply(b *testing.B) {
	book := fillBook(1_000_000)
	changes := make([]PersonStatus, 100_000)
	for i := range changes {
		changes[i] = PersonStatus{PersonNo: uint32(i*10 + 1), Colour: Yellow, Source: SourceCommunity, Reason: "居家观察"}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range changes {
			changes[j].Seq = uint64(i + 2)
		}
		book.Update(changes, uint64(i+2))
	}
}

// BenchmarkStatusBookMemory reports the heap a book takes per person, after
// GC, at 1 M and 5 M people (run with -bench StatusBookMemory -benchtime 1x).
func BenchmarkStatusBookMemory(b *testing.B) {
	for _, n := range []int{1_000_000, 5_000_000} {
		b.Run(itoa(n), func(b *testing.B) {
			for b.Loop() {
				before := heapAfterGC()
				book := fillBook(n)
				after := heapAfterGC()
				b.ReportMetric(float64(after-before)/float64(n), "heap-B/person")
				runtime.KeepAlive(book)
			}
		})
	}
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func itoa(n int) string {
	switch n {
	case 1_000_000:
		return "1M"
	case 5_000_000:
		return "5M"
	}
	return "n"
}

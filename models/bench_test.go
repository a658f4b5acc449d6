package models

import (
	"fmt"
	"testing"
)

// BenchmarkStatusLookup reads a colour from a book of 100,000 non-green
// people, as the show-code and verify paths do on every request.
func BenchmarkStatusLookup(b *testing.B) {
	book := NewStatusBook()
	for i := range 100_000 {
		book.byPerson[fmt.Sprintf("person-%d", i)] = Status{Colour: Red, Source: SourceCDC}
	}
	book.loaded = true
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			book.Of(fmt.Sprint("person-", i%200_000))
			i++
		}
	})
}

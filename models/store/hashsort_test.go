package store

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"healthcode/models"
)

// The sorter gives a list back in hash order, one entry per document (the
// worst colour, the first reason of that colour), counting every row, the
// same whether it held the rows in memory or spilled them to files; and no
// file of it has a name, even while it runs, so a crash leaves none behind.
func TestHashSorterOrdersAndFolds(t *testing.T) {
	for _, limit := range []int{1 << 20, 7} {
		t.Run(fmt.Sprintf("in memory up to %d", limit), func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			named := func() []string {
				names, err := filepath.Glob(filepath.Join(tmp, "*"))
				if err != nil {
					t.Fatal(err)
				}
				return names
			}
			h := &hashSorter{inMemory: limit}
			hash := func(i int) []byte { s := sha256.Sum256(fmt.Appendf(nil, "doc %d", i)); return s[:] }
			// 600 documents; every tenth listed again later, worse or not.
			want := map[string]sortedEntry{}
			for i := range 600 {
				colour := models.Yellow
				if i%3 == 0 {
					colour = models.Green
				}
				reason := fmt.Sprintf("第%d行\t含制表符", i)
				if err := h.add(hash(i), colour, reason); err != nil {
					t.Fatal(err)
				}
				want[string(hash(i))] = sortedEntry{Colour: colour, Reason: reason, Rows: 1}
			}
			for i := 0; i < 600; i += 10 {
				colour := models.Red
				if i%20 == 0 {
					colour = models.Green // no worse: the first row stands
				}
				if err := h.add(hash(i), colour, "再次"); err != nil {
					t.Fatal(err)
				}
				w := want[string(hash(i))]
				if colour.Worse(w.Colour) {
					w.Colour, w.Reason = colour, "再次"
				}
				w.Rows++
				want[string(hash(i))] = w
			}
			if h.spilled != (limit < 660) {
				t.Fatalf("spilled = %v with %d rows in memory at most", h.spilled, limit)
			}
			if names := named(); len(names) > 0 {
				t.Errorf("%d of the sorter's files have names in TMPDIR, such as %s", len(names), names[0])
			}
			var got []sortedEntry
			batches, rows := 0, 0
			err := h.each(64, func(b []sortedEntry) error {
				if len(b) > 64 {
					t.Errorf("a batch of %d", len(b))
				}
				batches++
				for _, e := range b {
					rows += e.Rows
					got = append(got, sortedEntry{DocHash: bytes.Clone(e.DocHash), Colour: e.Colour, Reason: e.Reason, Rows: e.Rows})
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 600 || rows != 660 {
				t.Fatalf("%d entries for %d rows, want 600 for 660", len(got), rows)
			}
			for i, e := range got {
				if i > 0 && bytes.Compare(got[i-1].DocHash, e.DocHash) >= 0 {
					t.Fatalf("entry %d is out of order", i)
				}
				w := want[string(e.DocHash)]
				if e.Colour != w.Colour || e.Reason != w.Reason || e.Rows != w.Rows {
					t.Fatalf("entry %d: %s %q ×%d, want %s %q ×%d", i, e.Colour, e.Reason, e.Rows, w.Colour, w.Reason, w.Rows)
				}
			}
			h.close()
			if names := named(); len(names) > 0 {
				t.Errorf("%d files left in TMPDIR, such as %s", len(names), names[0])
			}
		})
	}
}

// A list that repeats one document (a hostile file, well within the 2,000,000
// rows and 256 MB an import takes) puts every row in one bucket: reading it
// back must hold one entry for the document, not every row of the bucket,
// or the import's memory grows with the file (the bound is 100 MB for a
// 2,000,000-row import).
func TestHashSorterHoldsABucketByDocument(t *testing.T) {
	h := &hashSorter{inMemory: 1000}
	defer h.close()
	one := sha256.Sum256([]byte("one document"))
	const rows = 1_000_000
	for i := range rows {
		colour := models.Yellow
		if i == rows/2 {
			colour = models.Red
		}
		if err := h.add(one[:], colour, ""); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak uint64
	var got []sortedEntry
	err := h.each(5000, func(b []sortedEntry) error {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapAlloc)
		got = append(got, b...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Rows != rows || got[0].Colour != models.Red {
		t.Fatalf("%d entries (%+v), want one red of %d rows", len(got), got, rows)
	}
	if growth := int64(peak) - int64(before.HeapAlloc); growth > 16<<20 {
		t.Errorf("reading the bucket back took %d MB of heap for one document", growth>>20)
	}
}

// The reasons the sorter holds in memory are its own: a CSV record's
// fields share one string, so a reason cut to 256 characters from a long
// one would otherwise keep the whole record alive until the list is staged
// (49,999 rows of 5 KB fit in an upload and never spill).
func TestHashSorterKeepsOnlyTheReasonsItHolds(t *testing.T) {
	h := &hashSorter{}
	defer h.close()
	long := strings.Repeat("密接", 2000) // 12 KB
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	const rows = 20000
	for i := range rows {
		record := fmt.Sprintf("resident_id,11010519800101%04d,red,%s", i, long) // as encoding/csv builds a record
		reason := record[strings.LastIndexByte(record[:40], ',')+1:]
		s := sha256.Sum256([]byte(record[:30]))
		if err := h.add(s[:], models.Red, truncate(reason, 256)); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	// 20,000 entries of a 768-byte reason and a hash: about 18 MB.
	if growth := int64(after.HeapAlloc) - int64(before.HeapAlloc); growth > 40<<20 {
		t.Errorf("%d rows held in memory take %d MB of heap", rows, growth>>20)
	}
	runtime.KeepAlive(h)
}

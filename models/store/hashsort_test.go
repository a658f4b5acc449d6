package store

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"testing"

	"healthcode/models"
)

// The sorter gives a list back in hash order, one entry per document (the
// worst colour, the first reason of that colour), counting every row, the
// same whether it held the rows in memory or spilled them to files; and it
// leaves no file behind.
func TestHashSorterOrdersAndFolds(t *testing.T) {
	for _, limit := range []int{1 << 20, 7} {
		t.Run(fmt.Sprintf("in memory up to %d", limit), func(t *testing.T) {
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
			dir := h.dir
			if spilled := dir != ""; spilled != (limit < 660) {
				t.Fatalf("spilled = %v with %d rows in memory at most", spilled, limit)
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
			if dir != "" {
				if _, err := os.Stat(dir); !os.IsNotExist(err) {
					t.Errorf("the spill directory is left: %v", err)
				}
			}
		})
	}
}

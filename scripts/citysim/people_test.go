package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

var today = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Every document index maps to a different valid resident ID: the stride
// is a bijection of the index space, the unregistered people's indexes lie
// inside it, and the IDs parse (region, birth date, check digit).
func TestResidentIDsAreValidAndDistinct(t *testing.T) {
	if gcd(docStride, docSpace) != 1 {
		t.Fatalf("stride %d shares a factor with the index space %d: documents would repeat", docStride, docSpace)
	}
	if unregisteredBase+3<<24+2_000_000 >= docSpace {
		t.Fatalf("unregistered people's indexes run past the index space")
	}
	seen := map[string]uint64{}
	regions, days, seqs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	check := func(i uint64) {
		id := residentID(i)
		if prev, dup := seen[id]; dup {
			t.Fatalf("indexes %d and %d both give %s", prev, i, id)
		}
		seen[id] = i
		doc, err := document.Parse("resident_id", id, today)
		if err != nil {
			t.Fatalf("index %d: %s does not parse: %v", i, id, err)
		}
		if doc.Number != id || id[17] != document.CheckDigit(id) {
			t.Fatalf("index %d: %s normalised to %s", i, id, doc.Number)
		}
		if i < 1000 {
			regions[id[:6]], days[id[6:14]], seqs[id[14:17]] = true, true, true
		}
	}
	for i := range uint64(100_000) {
		check(i)
		check(unregisteredBase + i)
	}
	for _, i := range []uint64{docSpace - 1, docSpace / 2, unregisteredBase + 3<<24} {
		check(i)
	}
	// Consecutive people vary in region, birth date and sequence.
	if len(regions) < 30 || len(days) < 900 || len(seqs) < 500 {
		t.Errorf("the first 1000 documents use %d regions, %d birth dates, %d sequences", len(regions), len(days), len(seqs))
	}
}

// The lists pick distinct registered people, each of its residue, spread
// over the city, and never the disease-control list's (numbers ≡ 0 mod 100).
func TestListsPickDistinctPeople(t *testing.T) {
	const n = 50_000
	taken := map[uint32]uint64{}
	for _, residue := range []uint64{1, 2, 3} {
		list := newList(models.SourceCommunity, 20_000, n, residue, residue<<24, mixedColours)
		if list.registered != 10_000 {
			t.Fatalf("residue %d: %d registered rows of 20,000", residue, list.registered)
		}
		registered, highest := 0, uint32(0)
		docs := map[string]bool{}
		for r := range list.rows {
			no, doc, _, _ := list.row(r, n)
			if docs[doc] {
				t.Fatalf("residue %d: row %d repeats a document", residue, r)
			}
			docs[doc] = true
			if no == 0 {
				continue
			}
			registered++
			highest = max(highest, no)
			if no > n || uint64(no)%5 != residue || no%100 == 0 || doc != registeredDoc(no) {
				t.Fatalf("residue %d: row %d is person %d (%s)", residue, r, no, doc)
			}
			if other, dup := taken[no]; dup {
				t.Fatalf("person %d on the lists of residues %d and %d", no, other, residue)
			}
			taken[no] = residue
		}
		if registered != list.registered || highest < n*9/10 {
			t.Errorf("residue %d: %d registered rows reaching person %d, want %d spread to %d", residue, registered, highest, list.registered, n)
		}
	}
	if spread(0, 20_000, n, 1) != 0 {
		t.Error("a list larger than its residue's people should find none")
	}
}

// What the generator writes is what the store would have written: people
// are found by document, their sealed names open, a new registration takes
// the next number, and a cold load shows the disease-control list's colour.
func TestGeneratedPeopleAreTheStoresOwn(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t, "sqlite")
	vault := storetest.Vault(t)
	g := &generator{db: db, vault: vault, now: time.Now().UTC(), batch: 70}
	const n = 300
	if err := g.generate(ctx, 0, 200, func(uint32) {}); err != nil {
		t.Fatal(err)
	}
	if err := g.generate(ctx, 200, n, func(uint32) {}); err != nil {
		t.Fatal(err)
	}
	if err := g.seedLists(ctx, n); err != nil {
		t.Fatal(err)
	}
	st := store.NewStore(db, vault, models.SystemClock{}, time.UTC)
	for _, no := range []uint32{1, 7, 200, 201, n} {
		doc, err := document.Parse("resident_id", registeredDoc(no), today)
		if err != nil {
			t.Fatal(err)
		}
		p, err := st.EnsurePerson(ctx, personName(no), doc)
		if err != nil || p.No != no || p.MaskedDoc != document.MaskNumber(doc.Number) {
			t.Fatalf("person %d: %+v, %v", no, p, err)
		}
	}
	// The statuses written are the ones the store computes: a list that
	// names people green changes none of them.
	var green strings.Builder
	for no := uint32(1); no <= 60; no++ {
		fmt.Fprintf(&green, "resident_id,%s,green,\n", registeredDoc(no))
	}
	job, err := st.NewStatusImport(ctx, models.SourceCommunity, false, "operator:test", "")
	if err != nil {
		t.Fatal(err)
	}
	open := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(green.String())), nil }
	if err := st.RunStatusImport(ctx, job, open, nil); err != nil || job.State != models.ImportDone {
		t.Fatalf("import: %v, %s %s", err, job.State, job.Message)
	}
	book := models.NewStatusBook()
	if err := st.RefreshStatus(ctx, book); err != nil {
		t.Fatal(err)
	}
	if book.Seq() != 0 {
		t.Errorf("syncing 60 generated people logged %d changes, want none", book.Seq())
	}
	doc, _ := document.Parse("resident_id", unregisteredDoc(0), today)
	newcomer, err := st.EnsurePerson(ctx, "新人", doc)
	if err != nil || newcomer.No != n+1 {
		t.Fatalf("a registration after the generated city: %+v, %v; want number %d", newcomer, err, n+1)
	}
	if err := st.RefreshStatus(ctx, book); err != nil {
		t.Fatal(err)
	}
	for _, no := range []uint32{100, 200, 300} {
		if got := book.Of(no); got.Colour != models.Red || got.Source != models.SourceCDC {
			t.Errorf("person %d: %+v, want red from the disease-control list", no, got)
		}
	}
	if got := book.Of(8); got.Colour != models.Green || got.Nucleic.Result != models.NucleicNegative {
		t.Errorf("person 8: %+v, want green with a negative result", got)
	}
	// The newcomer is on the disease-control list (one in 200 listed
	// people never registered): registering logged their colour.
	if got := book.Of(newcomer.No); got.Colour != models.Red {
		t.Errorf("the listed newcomer: %+v, want red", got)
	}
}

package store

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"healthcode/models"
)

// sortedEntry is one list row as the staging writes it: a document by its
// keyed hash, its colour and reason, and how many rows of the file it
// stands for (a document listed twice is one entry, the worse of the two).
type sortedEntry struct {
	DocHash []byte
	Colour  models.Colour
	Reason  string
	Rows    int
	at      int // the row's place among those sorted together
}

// absorb folds a later row of the same document into e: the worse colour
// with its reason stands (the first on a tie), and every row counts.
func (e *sortedEntry) absorb(later sortedEntry) {
	if later.Colour.Worse(e.Colour) {
		e.Colour, e.Reason = later.Colour, later.Reason
	}
	e.Rows += later.Rows
}

// hashSorter collects a list's rows and gives them back in document-hash
// order, one entry per document, so the staging appends to its index
// instead of writing all over it. It holds at most sortInMemory rows; past
// that it spreads them over up to 256 files by the first byte of the hash
// (an HMAC, so the files come out even), each read back and sorted on its
// own: a 2,000,000-row list holds about 8,000 rows in memory at a time.
//
// A bucket file is unlinked as soon as it is made: the sorter holds it
// open, and when the job ends or the process dies the kernel frees it, so
// a crash leaves no list behind in TMPDIR.
type hashSorter struct {
	mem     []sortedEntry
	spilled bool
	buckets [256]*bufio.Writer
	files   [256]*os.File
	// named are bucket files the system would not unlink while open
	// (Windows), removed by close.
	named []string
	// inMemory is how many rows it holds before it spills: sortInMemory
	// when zero.
	inMemory int
}

// sortInMemory is how many rows a hashSorter holds before it spills.
const sortInMemory = 50000

// add takes a row in file order.
func (h *hashSorter) add(docHash []byte, colour models.Colour, reason string) error {
	// The reason may be a piece of a CSV record's one string: keep only it.
	reason = strings.Clone(reason)
	if !h.spilled {
		h.mem = append(h.mem, sortedEntry{DocHash: docHash, Colour: colour, Reason: reason, Rows: 1})
		if limit := cmp.Or(h.inMemory, sortInMemory); len(h.mem) < limit {
			return nil
		}
		h.spilled = true
		for _, e := range h.mem {
			if err := h.spill(e.DocHash, e.Colour, e.Reason); err != nil {
				return err
			}
		}
		h.mem = nil
		return nil
	}
	return h.spill(docHash, colour, reason)
}

// spill appends a row to its bucket's file: the hash, its length-prefixed
// colour and reason.
func (h *hashSorter) spill(docHash []byte, colour models.Colour, reason string) error {
	if len(docHash) != 32 {
		return fmt.Errorf("sort list: a document hash of %d bytes", len(docHash))
	}
	b := docHash[0]
	if h.buckets[b] == nil {
		f, err := os.CreateTemp("", fmt.Sprintf("healthcode-sort-%02x-*", b))
		if err != nil {
			return fmt.Errorf("sort list: %w", err)
		}
		if os.Remove(f.Name()) != nil {
			h.named = append(h.named, f.Name())
		}
		h.files[b], h.buckets[b] = f, bufio.NewWriterSize(f, 4096)
	}
	w := h.buckets[b]
	w.Write(docHash)
	w.Write(binary.AppendUvarint(nil, uint64(len(colour))))
	w.WriteString(string(colour))
	w.Write(binary.AppendUvarint(nil, uint64(len(reason))))
	_, err := w.WriteString(reason)
	return err
}

// each hands the entries to fn in hash order, in batches of at most n.
func (h *hashSorter) each(n int, fn func([]sortedEntry) error) error {
	if !h.spilled {
		return emitSorted(h.mem, n, fn)
	}
	for b := range h.buckets {
		if h.buckets[b] == nil {
			continue
		}
		if err := h.buckets[b].Flush(); err != nil {
			return fmt.Errorf("sort list: %w", err)
		}
		if _, err := h.files[b].Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("sort list: %w", err)
		}
		entries, err := readBucket(h.files[b])
		if err != nil {
			return err
		}
		if err := emitSorted(entries, n, fn); err != nil {
			return err
		}
	}
	return nil
}

// close closes the sorter's files, which frees them.
func (h *hashSorter) close() {
	for _, f := range h.files {
		if f != nil {
			f.Close()
		}
	}
	for _, name := range h.named {
		os.Remove(name)
	}
}

// emitSorted sorts entries by hash (rows of one document in the order
// given, which is the file's), folds each document's rows into one — the worst colour,
// the first such row's reason, as syncStatuses would have read them — and
// hands them to fn in batches of at most n.
func emitSorted(entries []sortedEntry, n int, fn func([]sortedEntry) error) error {
	for i := range entries {
		entries[i].at = i
	}
	slices.SortFunc(entries, func(a, b sortedEntry) int {
		return cmp.Or(bytes.Compare(a.DocHash, b.DocHash), cmp.Compare(a.at, b.at))
	})
	out := entries[:0]
	for _, e := range entries {
		if last := len(out) - 1; last >= 0 && bytes.Equal(out[last].DocHash, e.DocHash) {
			out[last].absorb(e)
			continue
		}
		out = append(out, e)
	}
	for start := 0; start < len(out); start += n {
		if err := fn(out[start:min(start+n, len(out))]); err != nil {
			return err
		}
	}
	return nil
}

// readBucket decodes a bucket file's rows as a stream, folding each
// document's rows as it goes (the worst colour, the first reason of it,
// every row counted): it holds one entry per document and never the file,
// however often a file repeats one document.
func readBucket(r io.Reader) ([]sortedEntry, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	damaged := errors.New("sort list: a damaged spill file")
	field := func() (string, error) {
		l, err := binary.ReadUvarint(br)
		if err != nil || l > 1<<16 {
			return "", damaged
		}
		buf := make([]byte, l)
		if _, err := io.ReadFull(br, buf); err != nil {
			return "", damaged
		}
		return string(buf), nil
	}
	var out []sortedEntry
	at := map[[32]byte]int{}
	for {
		var key [32]byte
		if _, err := io.ReadFull(br, key[:]); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, damaged
		}
		colour, err := field()
		if err != nil {
			return nil, err
		}
		reason, err := field()
		if err != nil {
			return nil, err
		}
		c := models.Colour(colour)
		if i, ok := at[key]; ok {
			out[i].absorb(sortedEntry{Colour: c, Reason: reason, Rows: 1})
			continue
		}
		at[key] = len(out)
		out = append(out, sortedEntry{DocHash: bytes.Clone(key[:]), Colour: c, Reason: reason, Rows: 1})
	}
}

package main

import (
	"bufio"
	"fmt"
	"os"

	"healthcode/models"
)

// listSpec describes a generated status list: rows rows for source, every
// other one (as long as they last) a registered person among those whose
// number is ≡ residue (mod 5), spread over the whole city, the rest people
// who never registered, from document index unregisteredFrom on.
type listSpec struct {
	source           string
	rows             int
	registered       int
	residue          uint64
	unregisteredFrom uint64
	// colour gives the j-th registered or unregistered row's colour and
	// reason.
	colour func(j int) (models.Colour, string)
}

// mixedColours is a community list: mostly yellow, a fifth red, a tenth
// green (lifted).
func mixedColours(j int) (models.Colour, string) {
	switch j % 10 {
	case 0:
		return models.Green, "解除居家观察"
	case 1, 2:
		return models.Red, "密切接触者"
	case 3, 4:
		return models.Yellow, "中风险区旅居"
	default:
		return models.Yellow, "居家观察"
	}
}

// allYellow is a list that turns everyone on it yellow.
func allYellow(int) (models.Colour, string) { return models.Yellow, "居家健康监测" }

// newList plans a list over a city of n registered people: half its rows
// registered people, as many as there are of the residue.
func newList(source string, rows int, n uint32, residue, unregisteredFrom uint64, colour func(int) (models.Colour, string)) listSpec {
	registered := min(rows/2, int(n/5))
	return listSpec{source: source, rows: rows, registered: registered, residue: residue, unregisteredFrom: unregisteredFrom, colour: colour}
}

// row returns the r-th row: the person's number (0 for an unregistered
// one), the document, colour and reason.
func (l listSpec) row(r int, n uint32) (no uint32, doc string, colour models.Colour, reason string) {
	unregistered := l.rows - l.registered
	// Alternate while both kinds last, then the rest of the other kind.
	pairs := min(l.registered, unregistered)
	j, isRegistered := r/2, r%2 == 0
	if r >= 2*pairs {
		j, isRegistered = r-pairs, l.registered > unregistered
	}
	if isRegistered {
		no = spread(uint64(j), uint64(l.registered), uint64(n), l.residue)
		doc = registeredDoc(no)
	} else {
		doc = unregisteredDoc(l.unregisteredFrom + uint64(j))
	}
	colour, reason = l.colour(j)
	return no, doc, colour, reason
}

// write writes the list as a CSV file (with its header row) at path.
func (l listSpec) write(path string, n uint32) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "doc_type,doc_number,colour,reason")
	for r := range l.rows {
		_, doc, colour, reason := l.row(r, n)
		w.WriteString("resident_id,")
		w.WriteString(doc)
		w.WriteByte(',')
		w.WriteString(string(colour))
		w.WriteByte(',')
		w.WriteString(reason)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

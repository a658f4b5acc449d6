package models

import (
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"healthcode/models/document"
	"healthcode/models/fault"
)

// maxImportRows bounds one imported file.
const maxImportRows = 2_000_000

// maxListedProblems bounds the row problems an answer lists.
const maxListedProblems = 100

// RowProblem says what is wrong with one row of an imported file. It never
// repeats the row's content.
type RowProblem struct {
	Row     int    `json:"row"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ImportProblems is the Details of a rejected import.
type ImportProblems struct {
	BadRows  int          `json:"bad_rows"`
	Problems []RowProblem `json:"rows"`
}

// readCSV reads a UTF-8 CSV file (a BOM and a header row equal to header are
// allowed) and calls each for every data row with the 1-based number of the
// line it starts on in the file (a quoted newline inside a field does not
// shift the rows after it). Rows each refuses, and rows that are not UTF-8 (problem code
// CodeInvalidEncoding), are collected; if any, the whole file is refused
// with an *Error (CodeImportRejected) listing them.
func readCSV(r io.Reader, header []string, each func(row int, fields []string) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	var problems []RowProblem
	bad, rows := 0, 0
	for first := true; ; first = false {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return fault.Errorf(fault.KindInvalid, fault.CodeImportRejected, "文件第%d行不是有效的CSV，整个文件未导入", pe.Line)
			}
			return fault.Errorf(fault.KindInvalid, fault.CodeImportRejected, "文件无法读取，整个文件未导入").Wrap(err)
		}
		row, _ := cr.FieldPos(0)
		if first && len(fields) > 0 {
			fields[0] = strings.TrimPrefix(fields[0], "\ufeff")
			if isHeader(fields, header) {
				continue
			}
		}
		if rows++; rows > maxImportRows {
			return fault.Errorf(fault.KindInvalid, fault.CodeImportRejected, "文件超过%d行，请拆分后导入", maxImportRows)
		}
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		// Text is checked before anything else is said about the row: a
		// file saved as GBK would otherwise be hashed or stored as mojibake.
		if validFields(fields) {
			err = each(row, fields)
		} else {
			err = errNotUTF8Row
		}
		if errors.Is(err, errStopScan) {
			return err
		}
		if err != nil {
			bad++
			if len(problems) < maxListedProblems {
				problems = append(problems, RowProblem{Row: row, Code: fault.CodeOf(err), Message: safeMessage(err)})
			}
		}
	}
	if bad > 0 {
		e := fault.Errorf(fault.KindInvalid, fault.CodeImportRejected, "文件第%s行有误（共%d行），整个文件未导入，原名单继续有效", rowList(problems), bad)
		e.Details = ImportProblems{BadRows: bad, Problems: problems}
		return e
	}
	if rows == 0 {
		return fault.Errorf(fault.KindInvalid, fault.CodeImportRejected, "文件没有数据行")
	}
	return nil
}

// errNotUTF8Row is the problem of a row whose text is not UTF-8, typically
// a file saved as GBK.
var errNotUTF8Row = fault.Errorf(fault.KindInvalid, fault.CodeInvalidEncoding, "该行不是UTF-8编码的文本，请将文件另存为UTF-8后重新导入")

// validFields reports whether every field is UTF-8.
func validFields(fields []string) bool {
	for _, f := range fields {
		if !utf8.ValidString(f) {
			return false
		}
	}
	return true
}

func isHeader(fields, header []string) bool {
	if len(fields) != len(header) {
		return false
	}
	for i := range header {
		if !strings.EqualFold(strings.TrimSpace(fields[i]), header[i]) {
			return false
		}
	}
	return true
}

func safeMessage(err error) string {
	var e *fault.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "该行无法识别"
}

func rowList(problems []RowProblem) string {
	var parts []string
	for i, p := range problems {
		if i == 10 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, strconv.Itoa(p.Row))
	}
	return strings.Join(parts, "、")
}

// statusHeader is the optional header row of a status list.
var statusHeader = []string{"doc_type", "doc_number", "colour", "reason"}

// ParseStatusCSV reads a status list (doc_type,doc_number,colour,reason).
// today is the date birth dates are checked against. Any bad row (a bad
// document, an unknown colour) refuses the whole file: an *Error with
// CodeImportRejected whose Details list the rows.
func ParseStatusCSV(r io.Reader, today time.Time) ([]StatusRow, error) {
	var rows []StatusRow
	err := ScanStatusCSV(r, today, func(row StatusRow) error {
		rows = append(rows, row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// ScanStatusCSV reads a status list as a stream, calling each for every
// valid row; nothing of the file is held but the row at hand and the first
// problems. Errors as ParseStatusCSV's, after the whole file was read; an
// error each returns stops the scan and comes back as it is.
func ScanStatusCSV(r io.Reader, today time.Time, each func(StatusRow) error) error {
	var stop error
	err := readCSV(r, statusHeader, func(row int, f []string) error {
		if len(f) < 3 || len(f) > 4 {
			return fault.Errorf(fault.KindInvalid, fault.CodeColumns, "应有3或4列：证件类型,证件号码,颜色,原因")
		}
		doc, err := document.Parse(f[0], f[1], today)
		if err != nil {
			return err
		}
		colour, ok := ParseColour(f[2])
		if !ok {
			return fault.Errorf(fault.KindInvalid, fault.CodeColour, "颜色只能是 green、yellow 或 red")
		}
		reason := ""
		if len(f) == 4 {
			reason = f[3]
		}
		if err := each(StatusRow{Line: row, Doc: doc, Colour: colour, Reason: reason}); err != nil {
			stop = err
			return errStopScan
		}
		return nil
	})
	if stop != nil {
		return stop
	}
	return err
}

// errStopScan is what a row callback returns to end readCSV at once.
var errStopScan = errors.New("scan stopped")

package store

import "strings"

// multiRowInsert is one INSERT of n rows into table and its arguments:
// columns is the parenthesised column list, and row(i) appends row i's
// values in that order. Group commits build their statements with it and
// send them straight on the connection: gorm's builders would walk every
// row's fields again.
func multiRowInsert(table, columns string, n int, row func(i int, args []any) []any) (string, []any) {
	width := strings.Count(columns, ",") + 1
	one := "(" + strings.Repeat("?,", width-1) + "?)"
	var q strings.Builder
	q.Grow(len(table) + len(columns) + 20 + n*(len(one)+1))
	q.WriteString("INSERT INTO " + table + " " + columns + " VALUES ")
	args := make([]any, 0, n*width)
	for i := range n {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(one)
		args = row(i, args)
	}
	return q.String(), args
}

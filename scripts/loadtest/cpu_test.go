package main

import (
	"math"
	"os"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and a parenthesis; utime 250, stime 50.
	line := "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 1000 10\n"
	if got, want := parseProcStat(line), 3*time.Second; got != want {
		t.Fatalf("parseProcStat = %v, want %v", got, want)
	}
	if got := parseProcStat("garbage"); got != -1 {
		t.Fatalf("parseProcStat(garbage) = %v, want -1", got)
	}
	if got := procCPU(os.Getpid()); got < 0 {
		t.Fatalf("procCPU(self) = %v: /proc unreadable", got)
	}
}

func TestKeptBound(t *testing.T) {
	for _, c := range []struct{ k, serve, shed, want float64 }{
		{3, 100, 0, 1},            // free 503s: everything kept
		{3, 100, 100.0 / 21, 0.9}, // the 90 % target needs a 503 at 1/21 of a request
		{3, 130, 30, 0.4},
		{3, 100, 50, 0}, // shedding alone takes every core
		{1, 100, 30, 1}, // no overload
		{3, 20, 30, 0},  // a 503 dearer than a request
	} {
		if got := keptBound(c.k, c.serve, c.shed); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("keptBound(%v, %v, %v) = %v, want %v", c.k, c.serve, c.shed, got, c.want)
		}
	}
}

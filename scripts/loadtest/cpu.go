package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Throughput ratios hide where the cores went: the generator, the server
// and the database share them. The harness therefore also reads the CPU
// time each used during a run (from /proc, so on Linux only) and reports it
// per answered request. The server's figure is what a generator on another
// machine would leave it with; the shed figure says how much a 503 costs.

// userHZ is the unit of the CPU times in /proc/<pid>/stat (USER_HZ, 100 on
// every Linux architecture Go runs on).
const userHZ = 100

// procCPU is the user and system time process pid has used, or -1 when it
// cannot be read.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return -1
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	return parseProcStat(string(raw))
}

// parseProcStat reads utime and stime (fields 14 and 15) of a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may itself hold spaces and parentheses, so fields are counted after the
// last ')'.
func parseProcStat(line string) time.Duration {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(line[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(utime+stime) * time.Second / userHZ
}

// selfCPU is the CPU time this process (the generator) has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// findProcess returns the pid of a running process whose command name is
// one of names (the local database server), or 0.
func findProcess(names ...string) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, err := os.ReadFile(d + "/comm")
		if err != nil {
			continue
		}
		for _, n := range names {
			if strings.TrimSpace(string(comm)) == n {
				pid, _ := strconv.Atoi(filepath.Base(d))
				return pid
			}
		}
	}
	return 0
}

// cpuTimes is CPU time of the server under test, the generator and the
// database server: used so far (a snapshot) or between two snapshots; -1
// where unknown.
type cpuTimes struct{ server, gen, db time.Duration }

// cpuMeter takes snapshots of the processes of one run.
type cpuMeter struct{ dbPid int }

func (m cpuMeter) snap(serverPid int) cpuTimes {
	return cpuTimes{server: procCPU(serverPid), gen: selfCPU(), db: procCPU(m.dbPid)}
}

// until is the CPU each process used from snapshot a to snapshot b.
func (a cpuTimes) until(b cpuTimes) cpuTimes {
	d := func(x, y time.Duration) time.Duration {
		if x < 0 || y < 0 {
			return -1
		}
		return y - x
	}
	return cpuTimes{server: d(a.server, b.server), gen: d(a.gen, b.gen), db: d(a.db, b.db)}
}

// perRequest renders the use per answered request in microseconds, as
// server/generator/database.
func (u cpuTimes) perRequest(answered int) string {
	us := func(t time.Duration) string {
		if m := micros(t, answered); m >= 0 {
			return fmt.Sprintf("%.0f", m)
		}
		return "-"
	}
	return us(u.server) + "/" + us(u.gen) + "/" + us(u.db)
}

// micros is t per n in microseconds, or -1 when unknown.
func micros(t time.Duration, n int) float64 {
	if t < 0 || n == 0 {
		return -1
	}
	return float64(t.Microseconds()) / float64(n)
}

// keptBound is the share of its capacity a server can still serve when
// offered k times that capacity and every request beyond what it serves
// costs shed (a 503) against serve for a served request, all on the same
// cores: serving A and shedding kC−A must fit in the C·serve the cores
// give, so A/C = (serve − k·shed) / (serve − shed).
func keptBound(k, serve, shed float64) float64 {
	if serve <= shed {
		return 0
	}
	return max(0, min(1, (serve-k*shed)/(serve-shed)))
}

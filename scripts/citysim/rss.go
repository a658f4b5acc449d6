package main

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"
)

// rssSampler follows this process's resident set while something runs:
// the kernel's peak (VmHWM, reset when sampling starts) and VmRSS read
// every 10 ms, whichever is higher.
type rssSampler struct {
	before uint64
	mu     sync.Mutex
	peak   uint64
	done   chan struct{}
	wg     sync.WaitGroup
}

// startRSS resets the kernel's peak and starts sampling.
func startRSS() *rssSampler {
	// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0).
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	rss, _ := readRSS()
	s := &rssSampler{before: rss, peak: rss, done: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				if rss, _ := readRSS(); rss > 0 {
					s.mu.Lock()
					s.peak = max(s.peak, rss)
					s.mu.Unlock()
				}
			}
		}
	})
	return s
}

// stop ends sampling and returns the peak and the RSS when it started.
func (s *rssSampler) stop() (peak, before uint64) {
	close(s.done)
	s.wg.Wait()
	_, hwm := readRSS()
	return max(s.peak, hwm), s.before
}

// readRSS returns VmRSS and VmHWM in bytes.
func readRSS() (rss, hwm uint64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		var into *uint64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			into = &rss
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			into = &hwm
		default:
			continue
		}
		fields := bytes.Fields(line)
		if len(fields) >= 2 {
			kb, _ := strconv.ParseUint(string(fields[1]), 10, 64)
			*into = kb << 10
		}
	}
	return rss, hwm
}

// loadAverage is the machine's one-minute load average, as /proc/loadavg
// gives it: how many runnable tasks shared the cores.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := bytes.Fields(raw)
	if len(f) == 0 {
		return "?"
	}
	return string(f[0])
}

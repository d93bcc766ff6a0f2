package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// every Linux the bench runs on).
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU a process has used so far (user + system).
func cpuTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: the fields start after its ')'.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// cpuSnapshot is the CPU used so far by each process of the bench, this
// one (stores and load generator) included.
func (b *bench) cpuSnapshot() map[string]time.Duration {
	out := map[string]time.Duration{}
	pids := map[string]int{"stores-and-load": os.Getpid()}
	for _, p := range b.procs {
		if p.Process != nil {
			pids[processName(p)] = p.Process.Pid
		}
	}
	for name, pid := range pids {
		if t, err := cpuTime(pid); err == nil {
			out[name] = t
		}
	}
	return out
}

// cpuPer says where the CPU of n operations went: each process's share
// per operation, largest first, and their sum.
func cpuPer(before, after map[string]time.Duration, n int) (string, time.Duration) {
	if n == 0 {
		return "no operations", 0
	}
	type share struct {
		name string
		per  time.Duration
	}
	var shares []share
	var total time.Duration
	for name, t := range after {
		per := (t - before[name]) / time.Duration(n)
		total += per
		if per >= 100*time.Microsecond {
			shares = append(shares, share{name, per})
		}
	}
	slices.SortFunc(shares, func(a, b share) int { return int(b.per - a.per) })
	parts := make([]string, len(shares))
	for i, s := range shares {
		parts[i] = fmt.Sprintf("%s %.1f", s.name, ms(s.per))
	}
	return strings.Join(parts, ", ") + " (ms)", total
}

// cpuPerRequest reports the CPU each process spent per request of res
// since before, and, given the yardstick's own figure, the share of its
// rate those costs allow on busy cores (its CPU per request / res's): a
// closed loop on two shared cores goes as the inverse of its CPU per
// request, so the figure tells which process a missed ratio is spent in,
// loaded machine or not. It returns res's CPU per request.
func (b *bench) cpuPerRequest(rep *report, what string, before map[string]time.Duration, res result, yardstick time.Duration) time.Duration {
	after := b.cpuSnapshot()
	if res.sent == 0 {
		return 0
	}
	type share struct {
		name string
		per  time.Duration
	}
	var shares []share
	var total time.Duration
	for name, t := range after {
		per := (t - before[name]) / time.Duration(res.sent)
		total += per
		if per >= 5*time.Microsecond {
			shares = append(shares, share{name, per})
		}
	}
	slices.SortFunc(shares, func(a, b share) int { return int(b.per - a.per) })
	parts := make([]string, len(shares))
	for i, s := range shares {
		parts[i] = fmt.Sprintf("%s %d", s.name, s.per.Microseconds())
	}
	value := fmt.Sprintf("%d µs: %s (µs)", total.Microseconds(), strings.Join(parts, ", "))
	if yardstick > 0 && total > 0 {
		value += fmt.Sprintf("; the baseline's %d µs / this: %.0f%%", yardstick.Microseconds(), 100*float64(yardstick)/float64(total))
	}
	rep.add("CPU per request of "+what+", by process", value, "", true)
	return total
}

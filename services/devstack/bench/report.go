package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

type row struct {
	name, value, target string
	pass                bool
	checked             bool
}

type report struct {
	machine string
	rows    []row
	notes   []string
}

// add records a measured figure; target "" means informational.
func (r *report) add(name, value, target string, pass bool) {
	r.rows = append(r.rows, row{name: name, value: value, target: target, pass: pass, checked: target != ""})
}

// result records a load case, with its ratio to the yardstick when given
// and, when want > 0, the ratio it must reach.
func (r *report) result(res result, yardstick *result, want float64) {
	value := fmt.Sprintf("%.0f req/s, p50 %.2f ms, p99 %.2f ms", res.rate(), ms(res.pct(0.5)), ms(res.pct(0.99)))
	if len(res.late) > 0 {
		value += fmt.Sprintf(", the generator's own lateness p99 %.2f ms", ms(percentile(res.late, 0.99)))
	}
	if res.failed > 0 {
		value += fmt.Sprintf(", %d failed", res.failed)
	}
	target, pass := "", res.failed == 0
	if yardstick != nil {
		ratio := res.rate() / yardstick.rate()
		value += fmt.Sprintf(" (%.0f%% of baseline)", 100*ratio)
		if want > 0 {
			target = fmt.Sprintf("≥ %.0f%% of baseline", 100*want)
			pass = pass && ratio >= want
		}
	}
	if !pass && target == "" {
		target = "no failures"
	}
	r.add(res.name, value, target, pass)
	if res.firstErr != nil {
		r.notes = append(r.notes, fmt.Sprintf("%s: first failure: %v", res.name, res.firstErr))
	}
}

func (r *report) missed() int {
	n := 0
	for _, x := range r.rows {
		if x.checked && !x.pass {
			n++
		}
	}
	return n
}

func (x row) verdict() string {
	switch {
	case !x.checked:
		return ""
	case x.pass:
		return "met"
	default:
		return "MISSED"
	}
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n%s\n\n", r.machine)
	for _, x := range r.rows {
		fmt.Fprintf(w, "%-70s %-62s %-22s %s\n", x.name, x.value, x.target, x.verdict())
	}
	for _, n := range r.notes {
		fmt.Fprintln(w, "note:", n)
	}
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmark results\n\nWritten by `make bench` on %s.\n\n%s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), r.machine)
	b.WriteString("| case | measured | target | |\n|---|---|---|---|\n")
	for _, x := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", x.name, x.value, x.target, x.verdict())
	}
	for _, n := range r.notes {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	return b.String()
}

// machine describes where the numbers came from.
func machine() string {
	cpu := "unknown CPU"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("Machine: %s, %d cores, %s/%s, %s. Every service, both gateways and the baseline are separate processes; the load generator shares the machine.",
		cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

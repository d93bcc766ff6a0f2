package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// result is one case's measurement.
type result struct {
	name   string
	ok     int
	failed int
	// sent counts every request answered in the run, the unmeasured
	// warm-up's included: the CPU the processes used over the whole run
	// is divided by it.
	sent    int
	elapsed time.Duration
	lat     []time.Duration // sorted
	// late is, for an open loop, how long after its due time each
	// measured request left (sorted): the generator's own delay, which
	// lat includes. Where it is near lat, the machine's tail is the
	// generator's, not the server's.
	late     []time.Duration
	firstErr error
}

// firstError keeps the first failure of a case, to say why it failed.
type firstError struct {
	once sync.Once
	err  error
}

func (f *firstError) set(err error) { f.once.Do(func() { f.err = err }) }

func (r result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration { return percentile(r.lat, p) }

// percentile is the p-th of sorted durations; 0 for none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// tally gathers a case's answers from many workers.
type tally struct {
	mu               sync.Mutex
	lat, late        []time.Duration
	ok, failed, sent atomic.Int64
	first            firstError
}

// worker is one sender's share; add merges it when the sender stops.
type worker struct{ lat, late []time.Duration }

func (t *tally) record(w *worker, took time.Duration, err error) {
	if err != nil {
		t.failed.Add(1)
		t.first.set(err)
		return
	}
	t.ok.Add(1)
	w.lat = append(w.lat, took)
}

// recordLate is record for an open loop's request, which also left late
// after its due time.
func (t *tally) recordLate(w *worker, took, late time.Duration, err error) {
	t.record(w, took, err)
	if err == nil {
		w.late = append(w.late, late)
	}
}

func (t *tally) add(w *worker) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lat = append(t.lat, w.lat...)
	t.late = append(t.late, w.late...)
}

func (t *tally) result(name string, elapsed time.Duration) result {
	slices.Sort(t.lat)
	slices.Sort(t.late)
	return result{name: name, ok: int(t.ok.Load()), failed: int(t.failed.Load()), sent: int(t.sent.Load()), elapsed: elapsed, lat: t.lat, late: t.late, firstErr: t.first.err}
}

// openSenders is how many senders an open-loop case has.
const openSenders = 128

// closedLoop runs conc workers that each send one request after another
// for d (after a warm-up of d/5 that is not counted): the peak rate.
func closedLoop(name string, d time.Duration, conc int, do func(worker int) error) result {
	start := time.Now()
	measureFrom, end := start.Add(d/5), start.Add(d/5+d)
	var t tally
	var wg sync.WaitGroup
	for n := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w worker
			defer t.add(&w)
			for {
				t0 := time.Now()
				if t0.After(end) {
					return
				}
				err := do(n)
				t.sent.Add(1)
				if !t0.Before(measureFrom) {
					t.record(&w, time.Since(t0), err)
				}
			}
		}()
	}
	wg.Wait()
	return t.result(name, d)
}

// openLoop sends requests at a fixed rate whatever the answers' speed, and
// measures each from the moment it was due, so a stalled server shows in
// the latencies instead of slowing the sender (no coordinated omission).
// A fixed pool of senders takes the due times in turn; a goroutine per
// request cost the generator more than the server at these rates.
func openLoop(name string, d time.Duration, perSecond float64, do func(sender int) error) result {
	interval := time.Duration(float64(time.Second) / perSecond)
	total := int64(d / interval)
	start := time.Now()
	var next atomic.Int64
	var t tally
	var wg sync.WaitGroup
	for n := range openSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w worker
			defer t.add(&w)
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				due := start.Add(time.Duration(i) * interval)
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait) // pacing the sender, not waiting for an outcome
				}
				late := time.Since(due)
				err := do(n)
				t.sent.Add(1)
				t.recordLate(&w, time.Since(due), late, err)
			}
		}()
	}
	wg.Wait()
	return t.result(name, d)
}

// client keeps connections open between requests, as the app does.
var client = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, DisableCompression: true},
}

// call sends one request and wants the given status.
func call(method, url, token, body string, want int) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d", method, url, res.StatusCode)
	}
	return nil
}

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
	name     string
	ok       int
	failed   int
	elapsed  time.Duration
	lat      []time.Duration // sorted
	firstErr error
}

// firstError keeps the first failure of a case, to say why it failed.
type firstError struct {
	once sync.Once
	err  error
}

func (f *firstError) set(err error) { f.once.Do(func() { f.err = err }) }

func (r result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))]
}

// closedLoop runs conc workers that each send one request after another
// for d (after a warm-up of d/5 that is not counted): the peak rate.
func closedLoop(name string, d time.Duration, conc int, do func(worker int) error) result {
	warm := d / 5
	start := time.Now()
	measureFrom, end := start.Add(warm), start.Add(warm+d)
	var mu sync.Mutex
	var lat []time.Duration
	var ok, failed atomic.Int64
	var first firstError
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				err := do(w)
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					failed.Add(1)
					first.set(err)
					continue
				}
				ok.Add(1)
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	return result{name: name, ok: int(ok.Load()), failed: int(failed.Load()), elapsed: d, lat: lat, firstErr: first.err}
}

// openLoop sends requests at a fixed rate whatever the answers' speed, and
// measures each from the moment it was due, so a stalled server shows in
// the latencies instead of slowing the sender (no coordinated omission).
// A fixed pool of senders takes the due times in turn; a goroutine per
// request cost the generator more than the server at these rates.
func openLoop(name string, d time.Duration, perSecond float64, do func() error) result {
	interval := time.Duration(float64(time.Second) / perSecond)
	total := int64(d / interval)
	start := time.Now()
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var ok, failed atomic.Int64
	var first firstError
	var wg sync.WaitGroup
	for range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				i := next.Add(1) - 1
				if i >= total {
					break
				}
				due := start.Add(time.Duration(i) * interval)
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait) // pacing the sender, not waiting for an outcome
				}
				if err := do(); err != nil {
					failed.Add(1)
					first.set(err)
					continue
				}
				ok.Add(1)
				mine = append(mine, time.Since(due))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	return result{name: name, ok: int(ok.Load()), failed: int(failed.Load()), elapsed: d, lat: lat, firstErr: first.err}
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

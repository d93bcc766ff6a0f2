package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/devstack/stack"
)

// growthOptions are the growth case's flags.
type growthOptions struct {
	small, large int           // accounts at the first and the second measurement
	each         time.Duration // measured time per request kind and size
	idle         time.Duration // the idle CPU window at the large size
	workers      int           // requests under way at once: latency, not peak rate
}

// settle is the pause between the last request and the idle window.
const settle = 30 * time.Second

// growthKinds are the requests whose p50 may not grow with the data.
var growthKinds = []string{"new-login", "GET /api/v2/profile (cache miss)", "POST /api/v2/update_name", "GET /api/v2/my/documents", "whole registration (6 requests)"}

// runGrowth is `-only growth`: every service as its own process on a
// store seeded (stack.Seed, as make seed) with o.small accounts, each
// request kind's p50 measured, the store grown to o.large and measured
// again; then the processes' CPU with no requests over o.idle, and the
// data dir's disk use per account at rest.
func runGrowth(ctx context.Context, root string, o growthOptions, outFile string, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "doss-growth-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{root: root, dir: dir, bin: filepath.Join(dir, "bin"), out: stdout, ops: map[string]string{}}
	defer b.stopAll()
	fmt.Fprintln(stdout, "building the services…")
	if _, err := b.build(append([]string{"gateway"}, services...)); err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	ns, err := embedded.StartNATS(filepath.Join(data, "nats"), -1)
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	store, err := embedded.StartFerretDB(ctx, filepath.Join(data, "ferretdb"), "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer store.Shutdown()
	s3, err := embedded.StartS3(ctx, filepath.Join(data, "s3"), "127.0.0.1:0", "bench-access", "bench-secret-key")
	if err != nil {
		return err
	}
	defer s3.Shutdown()
	defer b.stopAll() // before the stores they use
	client, db, err := mongox.Connect(ctx, store.URI, "bench")
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	const pin = "7193"
	seedEnv := func(k string) string {
		if k == "DOSS_ENV" {
			return "dev"
		}
		return os.Getenv(k)
	}
	seedTo := func(from, to int) (time.Duration, error) {
		t0 := time.Now()
		for i := from; i < to; i += stack.SeedBatch {
			if err := stack.Seed(ctx, seedEnv, db, pin, i, min(i+stack.SeedBatch, to)); err != nil {
				return 0, err
			}
		}
		return time.Since(t0), nil
	}
	rep := &report{machine: machine()}
	took, err := seedTo(0, o.small)
	if err != nil {
		return err
	}
	rep.add(fmt.Sprintf("seed %d accounts (stack.Seed, as make seed)", o.small), took.Round(time.Millisecond).String(), "", true)

	b.busEnv = ns.ServiceEnv()
	b.env = append(os.Environ(),
		"DOSS_ENV=dev", "DOSS_NATS_URL="+ns.HostURL, "DOSS_MONGO_URI="+store.URI, "DOSS_MONGO_DB=bench",
		"DOSS_BUS_SIGNING_KEY="+b.busEnv["DOSS_BUS_SIGNING_KEY"], "DOSS_BUS_VERIFY_KEYS="+b.busEnv["DOSS_BUS_VERIFY_KEYS"],
		"DOSS_S3_ENDPOINT="+s3.Endpoint, "DOSS_S3_ACCESS_KEY="+s3.AccessKey, "DOSS_S3_SECRET_KEY="+s3.SecretKey,
		"DOSS_IP_SENDS_PER_HOUR=100000000", "DOSS_IP_CHECKS_PER_10MIN=100000000",
	)
	nc, err := nats.Connect(ns.URL)
	if err != nil {
		return err
	}
	defer nc.Close()
	for _, s := range services {
		if _, err := b.start(s, nil); err != nil {
			return err
		}
		if err := waitFor(30*time.Second, func() bool { return stack.Replicas(nc, s) > 0 }); err != nil {
			return fmt.Errorf("%s never served its endpoints", s)
		}
	}
	gw, err := b.startGateway("gateway-nocache", []string{"DOSS_PROFILE_CACHE_TTL=0s", "DOSS_DOCUMENTS_CACHE_TTL=0s"})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "measuring at %d accounts: %s per request kind, %d at once\n", o.small, o.each, o.workers)
	var registered atomic.Int64
	at := map[int]map[string]result{}
	if at[o.small], err = measureAt(gw, o, o.small, pin, &registered); err != nil {
		return err
	}
	took, err = seedTo(o.small, o.large)
	if err != nil {
		return err
	}
	rep.add(fmt.Sprintf("seed %d accounts more, to %d (the services running)", o.large-o.small, o.large), fmt.Sprintf("%s, %.0f accounts/s", took.Round(time.Second), float64(o.large-o.small)/took.Seconds()), "", true)
	fmt.Fprintf(stdout, "measuring at %d accounts\n", o.large)
	if at[o.large], err = measureAt(gw, o, o.large, pin, &registered); err != nil {
		return err
	}
	for _, k := range growthKinds {
		s, l := at[o.small][k], at[o.large][k]
		ratio := float64(l.pct(0.5)) / float64(max(1, s.pct(0.5)))
		value := fmt.Sprintf("p50 %.1f ms at %d, %.1f ms at %d: %.2f× (%d and %d requests", ms(s.pct(0.5)), o.small, ms(l.pct(0.5)), o.large, ratio, s.ok, l.ok)
		if s.failed+l.failed > 0 {
			value += fmt.Sprintf(", %d failed", s.failed+l.failed)
		}
		rep.add(k+", as the store grows", value+")", "≤ 1.3×", ratio <= 1.3 && s.failed+l.failed == 0)
		for _, r := range []result{s, l} {
			if r.firstErr != nil {
				rep.notes = append(rep.notes, fmt.Sprintf("%s: first failure: %v", k, r.firstErr))
			}
		}
	}

	// No requests: what the services and the stores (this process) burn
	// on their own clocks.
	// What the last requests left (events to relay, the lagging writes)
	// settles before the window opens.
	fmt.Fprintf(stdout, "idle for %s at %d accounts, after %s to settle\n", o.idle, o.large, settle)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(settle):
	}
	before := b.cpuSnapshot()
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(o.idle):
	}
	after, window := b.cpuSnapshot(), time.Since(t0)
	shares, total := cpuPer(before, after, 1)
	idlePct := 100 * float64(total) / float64(window)
	rep.add(fmt.Sprintf("idle CPU at %d accounts over %s, every service and the stores", o.large, o.idle),
		fmt.Sprintf("%.1f%% of one core (%s over the window)", idlePct, shares), "≤ 5%", idlePct <= 5)

	bytes, err := diskUse(data)
	if err != nil {
		return err
	}
	accounts := o.large + int(registered.Load())
	perAccount := float64(bytes) / 1024 / float64(accounts)
	rep.add(fmt.Sprintf("disk at rest per account (du of the data dir, %.0f MiB / %d accounts)", float64(bytes)/(1<<20), accounts),
		fmt.Sprintf("%.1f KB", perAccount), "≤ 15 KB", perAccount <= 15)
	rep.notes = append(rep.notes, "Seeded accounts carry what a registration leaves at rest (the account's first version and head, its three claims, the profile, a document for every tenth); "+
		"they have no session, OTP records or rate-limit ledger entries, which real registrations (the flow rows) add. The idle window's CPU includes this process, which runs NATS, FerretDB and S3.")
	rep.print(stdout)
	if outFile != "" {
		if err := os.WriteFile(outFile, []byte(rep.markdown()), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "results written to", outFile)
	}
	if rep.missed() > 0 {
		return fmt.Errorf("%d target(s) missed", rep.missed())
	}
	return nil
}

// measureAt measures each growth kind against a store of size seeded
// accounts, each request on an account picked at random among them.
func measureAt(gw string, o growthOptions, size int, pin string, registered *atomic.Int64) (map[string]result, error) {
	out := map[string]result{}
	var mu sync.Mutex
	var tokens []string
	login := func(i int) (string, error) {
		r, err := post(gw+"/api/v2/new-login", map[string]string{"phone": stack.SeedPhone(i), "password": pin})
		if err != nil {
			return "", err
		}
		return str(dig(r, "response"), "token"), nil
	}
	out[growthKinds[0]] = closedLoop(growthKinds[0], o.each, o.workers, func(int) error {
		tok, err := login(rand.IntN(size))
		if err == nil {
			mu.Lock()
			tokens = append(tokens, tok)
			mu.Unlock()
		}
		return err
	})
	if len(tokens) == 0 {
		return nil, fmt.Errorf("no seeded account logged in at %d: %v", size, out[growthKinds[0]].firstErr)
	}
	pick := func() string { mu.Lock(); defer mu.Unlock(); return tokens[rand.IntN(len(tokens))] }
	out[growthKinds[1]] = closedLoop(growthKinds[1], o.each, o.workers, func(int) error {
		return call(http.MethodGet, gw+"/api/v2/profile", pick(), "", 200)
	})
	out[growthKinds[2]] = closedLoop(growthKinds[2], o.each, o.workers, func(int) error {
		return call(http.MethodPost, gw+"/api/v2/update_name", pick(), `{"first_name":"Ada","last_name":"Growth"}`, 200)
	})
	// Every tenth seeded account has a document.
	var withDocs []string
	for range 16 {
		tok, err := login(10 * rand.IntN(max(1, size/10)))
		if err != nil {
			return nil, err
		}
		withDocs = append(withDocs, tok)
	}
	out[growthKinds[3]] = closedLoop(growthKinds[3], o.each, o.workers, func(int) error {
		return call(http.MethodGet, gw+"/api/v2/my/documents", withDocs[rand.IntN(len(withDocs))], "", 200)
	})
	out[growthKinds[4]] = closedLoop(growthKinds[4], o.each, o.workers, func(int) error {
		n := registered.Add(1)
		_, err := register(gw, fmt.Sprintf("growth%d@example.com", n), fmt.Sprintf("+1415%07d", 5_000_000+n), pin)
		return err
	})
	return out, nil
}

// diskUse is what du says of dir: the blocks its files hold.
func diskUse(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	return total, err
}

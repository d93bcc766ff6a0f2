// Command bench is `make bench`: it builds every service, runs each as its
// own process against embedded NATS, FerretDB and S3, runs a bare Echo +
// JWT server beside them as the baseline, drives both with one load
// generator, and prints (and writes to a file) req/s, p50 and p99 of each
// case with its ratio to its yardstick and the target it must meet.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/argon2"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/services/devstack/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// services run as their own processes, as they do in production.
var services = []string{contract.ServiceAuth, contract.ServiceNotifier, contract.ServiceProfile, contract.ServiceDocuments}

type bench struct {
	root, dir, bin string
	env            []string
	procs          []*exec.Cmd
	out            io.Writer
	ops            map[string]string // process label → its ops listener
	profileDir     string
	busEnv         map[string]string     // the embedded server's credentials (embedded.NATS.ServiceEnv)
	watch          *embedded.FilterWatch // between the services and the store: counts its operations
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	root := fs.String("root", "../..", "the repository root")
	d := fs.Duration("duration", 5*time.Second, "measured time per case")
	conc := fs.Int("concurrency", 32, "concurrent connections for the peak-rate cases")
	outFile := fs.String("out", "", "also write the results (markdown) to this file")
	profileDir := fs.String("profile", "", "write CPU profiles of the services during each load case into this directory")
	cases := []string{"get", "login", "documents", "uploads", "flow", "down"}
	only := fs.String("only", "", "run only these load cases, comma-separated ("+strings.Join(cases, ", ")+"); the targets of the others are not checked; or growth alone (growth.go, not part of a full run: it takes minutes)")
	grow := growthOptions{small: 1000, workers: 2}
	fs.IntVar(&grow.large, "growth-n", 100_000, "growth: the accounts the store grows to from 1000")
	fs.DurationVar(&grow.idle, "idle", 5*time.Minute, "growth: the idle CPU window at full size")
	fs.DurationVar(&grow.each, "growth-duration", 20*time.Second, "growth: measured time per request kind and size (10 s windows were too short for update_name and the documents list: docs/performance.md)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *only == "growth" {
		rootAbs, err := filepath.Abs(*root)
		if err != nil {
			return err
		}
		if *outFile != "" {
			if *outFile, err = filepath.Abs(*outFile); err != nil {
				return err
			}
		}
		return runGrowth(ctx, rootAbs, grow, *outFile, stdout)
	}
	var chosen []string // nil: every case
	if *only != "" {
		chosen = strings.Split(*only, ",")
	}
	for _, c := range chosen {
		if !slices.Contains(cases, c) {
			return fmt.Errorf("-only: no case %q (cases: %s)", c, strings.Join(cases, ", "))
		}
	}
	rootAbs, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	// The embedded S3 server changes the working directory: resolve paths
	// now.
	for _, p := range []*string{outFile, profileDir} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return err
			}
		}
	}
	dir, err := os.MkdirTemp("", "doss-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{root: rootAbs, dir: dir, bin: filepath.Join(dir, "bin"), out: stdout, ops: map[string]string{}, profileDir: *profileDir}
	defer b.stopAll()

	fmt.Fprintln(stdout, "building the services…")
	built, err := b.build(append([]string{"gateway", "devstack", "devstack/bench/baseline"}, services...))
	if err != nil {
		return err
	}
	rep := &report{machine: machine()}
	want := func(c string) bool { return chosen == nil || slices.Contains(chosen, c) }

	// Cold start of `make run` (after the build): a fresh data dir to a
	// ready gateway.
	cold, err := b.coldStart()
	if err != nil {
		return err
	}
	rep.add("cold start of `make run` to a ready gateway", fmt.Sprintf("%d ms", cold.Milliseconds()), "≤ 2000 ms", cold <= 2*time.Second)

	ns, err := embedded.StartNATS(filepath.Join(dir, "nats"), -1)
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	mongo, err := embedded.StartFerretDB(ctx, filepath.Join(dir, "ferretdb"), "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer mongo.Shutdown()
	// Every store operation goes through the watch, which counts them
	// (storeOps); it passes the bytes on unchanged.
	if b.watch, err = embedded.WatchFilters(mongo.URI); err != nil {
		return err
	}
	defer b.watch.Close()
	s3, err := embedded.StartS3(ctx, filepath.Join(dir, "s3"), "127.0.0.1:0", "bench-access", "bench-secret-key")
	if err != nil {
		return err
	}
	defer s3.Shutdown()
	defer b.stopAll() // before the stores they use
	b.busEnv = ns.ServiceEnv()
	b.env = append(os.Environ(),
		"DOSS_ENV=dev", "DOSS_NATS_URL="+ns.HostURL, "DOSS_MONGO_URI="+b.watch.URI, "DOSS_MONGO_DB=bench",
		"DOSS_BUS_SIGNING_KEY="+b.busEnv["DOSS_BUS_SIGNING_KEY"], "DOSS_BUS_VERIFY_KEYS="+b.busEnv["DOSS_BUS_VERIFY_KEYS"],
		"DOSS_S3_ENDPOINT="+s3.Endpoint, "DOSS_S3_ACCESS_KEY="+s3.AccessKey, "DOSS_S3_SECRET_KEY="+s3.SecretKey,
		// One client address sends everything here.
		"DOSS_IP_SENDS_PER_HOUR=100000000", "DOSS_IP_CHECKS_PER_10MIN=100000000",
		// The uploads case stores thousands of documents per account.
		"DOSS_DOCUMENTS_PER_ACCOUNT=1000000",
	)
	nc, err := nats.Connect(ns.URL)
	if err != nil {
		return err
	}
	defer nc.Close()
	for _, s := range services {
		if !built[s] {
			continue
		}
		if _, err := b.start(s, nil); err != nil {
			return err
		}
		if err := waitFor(20*time.Second, func() bool { return stack.Replicas(nc, s) > 0 }); err != nil {
			return fmt.Errorf("%s never served its endpoints", s)
		}
	}
	hit, err := b.startGateway("gateway-cache", nil)
	if err != nil {
		return err
	}
	miss, err := b.startGateway("gateway-nocache", []string{"DOSS_PROFILE_CACHE_TTL=0s", "DOSS_DOCUMENTS_CACHE_TTL=0s"})
	if err != nil {
		return err
	}

	// Idle memory, before any request.
	for _, p := range b.procs {
		name := filepath.Base(p.Path)
		if name == "baseline" {
			continue
		}
		rss, err := rssMiB(p.Process.Pid)
		if err != nil {
			return err
		}
		rep.add("idle resident memory: "+processName(p), fmt.Sprintf("%.1f MiB", rss), "≤ 30 MiB", rss <= 30)
	}

	token, err := register(hit, "bench@example.com", "+14155550100", "7193")
	if err != nil {
		return fmt.Errorf("registering the bench user: %w", err)
	}
	profile, err := get(hit+"/api/v2/profile", token)
	if err != nil {
		return err
	}
	base, baseToken, err := b.startBaseline(profile)
	if err != nil {
		return err
	}

	// Each GET case has senders of its own, on the lean client (raw.go).
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	get := func(base, path, tok string, senders, want int) func(int) error {
		g := newRawGets(base, path, tok, senders)
		closers = append(closers, g.close)
		return func(w int) error { return g.get(w, want) }
	}
	getProfile := func(base, tok string, senders int) func(int) error {
		return get(base, "/api/v2/profile", tok, senders, http.StatusOK)
	}
	fmt.Fprintf(stdout, "measuring: %s per case, %d connections, %d cores\n", *d, *conc, runtime.NumCPU())
	var baseline result
	var baseCPU time.Duration // the baseline's CPU per request, all processes
	if want("get") {
		cpu0 := b.cpuSnapshot()
		baseline = closedLoop("baseline: bare Echo + JWT, profile from memory", *d, *conc, getProfile(base, baseToken, *conc))
		rep.result(baseline, nil, 0)
		baseCPU = b.cpuPerRequest(rep, "the baseline", cpu0, baseline, 0)
		hitRes := b.profiled("hit", *d, func() result {
			return closedLoop("GET /api/v2/profile, gateway cache hit", *d, *conc, getProfile(hit, token, *conc))
		})
		rep.result(hitRes, &baseline, 0.9)
		cpu0 = b.cpuSnapshot()
		missRes := b.profiled("miss", *d, func() result {
			return closedLoop("GET /api/v2/profile, cache miss (NATS round trip to profile)", *d, *conc, getProfile(miss, token, *conc))
		})
		rep.result(missRes, &baseline, 0.4)
		b.cpuPerRequest(rep, "the cache miss", cpu0, missRes, baseCPU)
		b.storeOps(rep, "GET /api/v2/profile, cache miss", 1, 200, func(int) error {
			return call(http.MethodGet, miss+"/api/v2/profile", token, "", http.StatusOK)
		})
		half := openLoop("GET /api/v2/profile, cache hit at half its peak rate", *d, hitRes.rate()/2, getProfile(hit, token, openSenders))
		rep.result(half, nil, 0)
		// The baseline cannot reach that rate; at half of its own peak, the
		// two side by side tell the machine's share of the tail (the generator
		// and the server share its cores) from the gateway's.
		slower := baseline.rate() / 2
		rep.result(openLoop(fmt.Sprintf("baseline at half its peak rate (%.0f req/s)", slower), *d, slower, getProfile(base, baseToken, openSenders)), nil, 0)
		rep.result(openLoop("GET /api/v2/profile, cache hit at the same rate", *d, slower, getProfile(hit, token, openSenders)), nil, 0)
		rep.add("p99 of the cache hit at half its peak rate", fmt.Sprintf("%.2f ms", ms(half.pct(0.99))), "≤ 5 ms", half.pct(0.99) <= 5*time.Millisecond && half.failed == 0)
	}
	if want("login") {
		if err := b.logins(rep, hit, *d); err != nil {
			return err
		}
	}
	if want("documents") {
		if err := call(http.MethodGet, hit+"/api/v2/my/documents", token, "", 200); err == nil {
			var ref *result // the ratio needs the baseline's run
			target := 0.0
			if want("get") {
				ref, target = &baseline, 0.4
			}
			docs := b.profiled("documents", *d, func() result {
				return closedLoop("GET /api/v2/my/documents, gateway cache hit", *d, *conc, get(hit, "/api/v2/my/documents", token, *conc, http.StatusOK))
			})
			rep.result(docs, ref, target)
			cpu0 := b.cpuSnapshot()
			docsMiss := b.profiled("documents-miss", *d, func() result {
				return closedLoop("GET /api/v2/my/documents, cache miss (NATS round trip to documents)", *d, *conc, get(miss, "/api/v2/my/documents", token, *conc, http.StatusOK))
			})
			rep.result(docsMiss, ref, 0)
			b.cpuPerRequest(rep, "the documents list's cache miss", cpu0, docsMiss, baseCPU)
			b.storeOps(rep, "GET /api/v2/my/documents, cache miss", 0, 200, func(int) error {
				return call(http.MethodGet, miss+"/api/v2/my/documents", token, "", http.StatusOK)
			})
		} else {
			rep.add("GET /api/v2/my/documents", "not measured", "", false)
			rep.notes = append(rep.notes, "documents list not measured: "+err.Error())
		}
	}
	if want("uploads") {
		if err := b.uploads(rep, hit, token, *d); err != nil {
			return err
		}
	}
	if want("flow") {
		var seq atomic.Int64
		flows := closedLoop("whole registration flow (6 requests, 2 PIN hashes)", *d, 2*runtime.NumCPU(), func(int) error {
			n := seq.Add(1)
			_, err := register(hit, fmt.Sprintf("flow%d@example.com", n), fmt.Sprintf("+1415%07d", 2000000+n), "7193")
			return err
		})
		rep.result(flows, nil, 0)
	}
	if want("down") {
		// No profile replica at all: the answer must be a fast 503, not a wait.
		if err := b.stopProcess(contract.ServiceProfile); err != nil {
			return err
		}
		down := closedLoop("GET /api/v2/profile (cache miss) with no profile replica: 503", *d/2, *conc,
			get(miss, "/api/v2/profile", token, *conc, http.StatusServiceUnavailable))
		rep.result(down, nil, 0)
		rep.add("p99 of the 503 when no replica answers", fmt.Sprintf("%.2f ms", ms(down.pct(0.99))), "≤ 100 ms", down.failed == 0 && down.pct(0.99) <= 100*time.Millisecond)
	}

	rep.print(stdout)
	if *outFile != "" && chosen == nil {
		if err := os.MkdirAll(filepath.Dir(*outFile), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(*outFile, []byte(rep.markdown()), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "results written to", *outFile)
	}
	if rep.missed() > 0 {
		return fmt.Errorf("%d target(s) missed", rep.missed())
	}
	return nil
}

// logins measures POST /api/v2/new-login against the PIN hash alone, and
// the CPU a login costs in each process.
func (b *bench) logins(rep *report, hit string, d time.Duration) error {
	// Many people log in at once, each with their own account.
	// With auth on a core of its own, a login waits longer for the stores
	// on the other cores, and auth's core idles unless more are under way.
	loginWorkers, ownCoreWorkers := 2*runtime.NumCPU(), 8*runtime.NumCPU()
	var loginBodies []string
	for i := range max(loginWorkers, ownCoreWorkers) {
		phone := fmt.Sprintf("+1415%07d", 1000000+i)
		if _, err := register(hit, fmt.Sprintf("login%d@example.com", i), phone, "7193"); err != nil {
			return fmt.Errorf("registering login users: %w", err)
		}
		loginBodies = append(loginBodies, fmt.Sprintf(`{"phone":%q,"password":"7193"}`, phone))
	}
	newLogin := func(w int) error {
		return call(http.MethodPost, hit+"/api/v2/new-login", "", loginBodies[w], 200)
	}
	// The machine's speed drifts from minute to minute (a shared host):
	// the hash alone is measured on both sides of the logins, and the
	// ratio is to their mean.
	before := argonRate(d/2, runtime.NumCPU())
	cpuBefore := b.cpuSnapshot()
	login := b.profiled("login", d, func() result {
		return closedLoop("POST /api/v2/new-login", d, loginWorkers, newLogin)
	})
	cpuAfter := b.cpuSnapshot()
	shares, perLogin := cpuPer(cpuBefore, cpuAfter, login.sent)
	after := argonRate(d/2, runtime.NumCPU())
	hash := meanOf(before, after)
	rep.add(fmt.Sprintf("PIN hash alone (argon2id m=19456 KiB t=2 p=1, %d goroutines), before and after the logins", runtime.NumCPU()),
		fmt.Sprintf("%.1f/s and %.1f/s, %.1f ms CPU each", before.rate, after.rate, ms(hash.cpu)), "", true)
	rep.result(login, nil, 0)
	// Of the accounts the logins above used, which the auth replica has
	// seen (their phone's owner and their counters' chains are known), and
	// then the first login of each account the replica has not seen.
	b.storeOps(rep, "POST /api/v2/new-login", 6, 40, func(i int) error {
		return call(http.MethodPost, hit+"/api/v2/new-login", "", loginBodies[i%loginWorkers], http.StatusOK)
	})
	if unseen := loginBodies[loginWorkers:]; len(unseen) > 0 {
		b.storeOps(rep, "POST /api/v2/new-login, an account's first in this auth replica", 0, len(unseen), func(i int) error {
			return call(http.MethodPost, hit+"/api/v2/new-login", "", unseen[i], http.StatusOK)
		})
	}
	rep.add("new-login rate / PIN hash rate", fmt.Sprintf("%.0f%%", 100*login.rate()/hash.rate), "≥ 90%", login.rate() >= 0.9*hash.rate && login.failed == 0)
	rep.add("CPU per new-login, by process (the hash runs in auth)", fmt.Sprintf("%.1f ms: %s", ms(perLogin), shares), "", true)
	// With every core busy, rates go as the inverse of CPU per item: the
	// ratio the costs above allow, whatever the scheduling. A measured
	// ratio near it says the cores never idled, and what is missing is
	// the CPU the other processes spend on a login.
	if perLogin > 0 {
		rep.add("the ratio those CPU costs allow on busy cores (the hash's CPU alone / CPU per new-login)", fmt.Sprintf("%.0f%%", 100*float64(hash.cpu)/float64(perLogin)), "", true)
	}
	// The gloss of that target, "the service adds ≤ 10%": what the
	// auth service spends on a login beside the hash, whatever the stores
	// and the load generator take of the same cores.
	if login.sent > 0 && hash.cpu > 0 {
		authCPU := (cpuAfter[contract.ServiceAuth] - cpuBefore[contract.ServiceAuth]) / time.Duration(login.sent)
		rep.add("auth's CPU per new-login / the PIN hash's CPU alone", fmt.Sprintf("%.0f%% (%.1f vs %.1f ms)", 100*float64(authCPU)/float64(hash.cpu), ms(authCPU), ms(hash.cpu)), "≤ 110%", authCPU <= hash.cpu*11/10)
	}
	if runtime.NumCPU() >= 2 {
		value, err := b.loginsOnOwnCore(d, newLogin, ownCoreWorkers)
		if err != nil {
			value = "not measured: " + err.Error()
		}
		rep.add("the same with auth on a core of its own and the rest on the others, vs the hash alone on that core", value, "", true)
	}
	return nil
}

// loginsOnOwnCore measures the logins again as a deployment that gives
// auth cores of its own would run them: auth alone on the last core,
// every other process (the stores and this load generator included) on
// the others, against the hash alone on that one core. It is not the
// issue's measure, which shares every core; it tells the service's part
// from the shared machine's.
func (b *bench) loginsOnOwnCore(d time.Duration, login func(int) error, workers int) (string, error) {
	var auth int
	pids := []int{os.Getpid()}
	for _, p := range b.procs {
		if processName(p) == contract.ServiceAuth {
			auth = p.Process.Pid
		} else {
			pids = append(pids, p.Process.Pid)
		}
	}
	if auth == 0 {
		return "", errors.New("auth is not running")
	}
	all := make([]int, runtime.NumCPU())
	for i := range all {
		all[i] = i
	}
	own, rest := all[len(all)-1:], all[:len(all)-1]
	defer func() {
		for _, pid := range append(pids, auth) {
			_ = pin(pid, all)
		}
	}()
	// The hash alone on the core auth will have, with auth off it; as many
	// at once as auth computes (its hash slots are the cores it started
	// with).
	aside := func() (hashAlone, error) {
		if err := pin(auth, rest); err != nil {
			return hashAlone{}, err
		}
		if err := pin(os.Getpid(), own); err != nil {
			return hashAlone{}, err
		}
		return argonRate(d/2, runtime.NumCPU()), nil
	}
	before, err := aside()
	if err != nil {
		return "", err
	}
	for _, pid := range pids {
		if err := pin(pid, rest); err != nil {
			return "", err
		}
	}
	if err := pin(auth, own); err != nil {
		return "", err
	}
	res := closedLoop("new-login, auth on its own core", d, workers, login)
	after, err := aside()
	if err != nil {
		return "", err
	}
	if res.failed > 0 {
		return "", fmt.Errorf("%d logins failed: %v", res.failed, res.firstErr)
	}
	hash := meanOf(before, after)
	return fmt.Sprintf("%.1f/s vs %.1f/s (%.1f and %.1f), %.0f%%", res.rate(), hash.rate, before.rate, after.rate, 100*res.rate()/hash.rate), nil
}

// build compiles each named package under services/ into b.bin; a service
// that does not exist yet is skipped.
func (b *bench) build(names []string) (map[string]bool, error) {
	built := map[string]bool{}
	for _, n := range names {
		src := filepath.Join(b.root, "services", n)
		if _, err := os.Stat(filepath.Join(src, "main.go")); err != nil {
			continue
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(b.bin, filepath.Base(n)), ".")
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %v\n%s", n, err, out)
		}
		built[n] = true
	}
	return built, nil
}

// start runs a built binary with the bench environment plus extra.
func (b *bench) start(name string, extra []string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(filepath.Join(b.bin, name), args...)
	cmd.Env = append(append([]string{}, b.env...), extra...)
	if seed := b.busEnv[embedded.SeedVar(name)]; seed != "" { // each service its own bus user
		cmd.Env = append(cmd.Env, "DOSS_NATS_SEED="+seed)
	}
	if ops, err := freeAddr(); err == nil && name != "baseline" {
		cmd.Env = append(cmd.Env, "DOSS_METRICS_ADDR="+ops)
		b.ops[labelOf(name, extra)] = ops
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b.procs = append(b.procs, cmd)
	return cmd, nil
}

// stopProcess stops the running binary named name and waits for it.
func (b *bench) stopProcess(name string) error {
	for i, p := range b.procs {
		if filepath.Base(p.Path) == name {
			_ = p.Process.Signal(os.Interrupt)
			err := p.Wait()
			b.procs = append(b.procs[:i], b.procs[i+1:]...)
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				return err
			}
			return nil
		}
	}
	return fmt.Errorf("no %s running", name)
}

func (b *bench) stopAll() {
	for i := len(b.procs) - 1; i >= 0; i-- {
		p := b.procs[i]
		_ = p.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	b.procs = nil
}

func (b *bench) startGateway(label string, extra []string) (string, error) {
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	cmd, err := b.start("gateway", append(extra, "DOSS_HTTP_ADDR="+addr, "BENCH_LABEL="+label))
	if err != nil {
		return "", err
	}
	_ = cmd
	url := "http://" + addr
	if err := waitFor(20*time.Second, func() bool { return call(http.MethodGet, url+"/readyz", "", "", 200) == nil }); err != nil {
		return "", fmt.Errorf("%s not ready", label)
	}
	return url, nil
}

// startBaseline runs the bare server with a key of its own and returns its
// URL and a token it accepts, shaped like the gateway's.
func (b *bench) startBaseline(profile []byte) (string, string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	pf := filepath.Join(b.dir, "profile.json")
	if err := os.WriteFile(pf, profile, 0o600); err != nil {
		return "", "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return "", "", err
	}
	if _, err := b.start("baseline", []string{"BENCH_PUBLIC_KEY=" + base64.StdEncoding.EncodeToString(pub), "BENCH_PROFILE_FILE=" + pf,
		"BENCH_ADDR=" + addr, "BENCH_ISSUER=" + contract.TokenIssuer, "BENCH_AUDIENCE=" + contract.TokenAudience}); err != nil {
		return "", "", err
	}
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": contract.TokenIssuer, "aud": contract.TokenAudience, "sub": "bench", "uid": 1, "sid": "bench",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = "bench"
	signed, err := tok.SignedString(priv)
	if err != nil {
		return "", "", err
	}
	url := "http://" + addr
	if err := waitFor(10*time.Second, func() bool { return call(http.MethodGet, url+"/healthz", "", "", 204) == nil }); err != nil {
		return "", "", errors.New("baseline did not start")
	}
	return url, signed, nil
}

// coldStart times `make run`'s binary from exec to a ready gateway on a
// fresh data dir.
func (b *bench) coldStart() (time.Duration, error) {
	var ports []string
	for range 4 {
		a, err := freeAddr()
		if err != nil {
			return 0, err
		}
		ports = append(ports, a)
	}
	_, natsPort, _ := net.SplitHostPort(ports[0])
	cmd := exec.Command(filepath.Join(b.bin, "devstack"))
	cmd.Env = append(os.Environ(), "DOSS_DATA_DIR="+filepath.Join(b.dir, "cold"), "DOSS_DEV_NATS_PORT="+natsPort,
		"DOSS_DEV_MONGO_ADDR="+ports[1], "DOSS_DEV_S3_ADDR="+ports[2], "DOSS_HTTP_ADDR="+ports[3])
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	url := "http://" + ports[3] + "/readyz"
	if err := waitFor(30*time.Second, func() bool { return call(http.MethodGet, url, "", "", 200) == nil }); err != nil {
		return 0, errors.New("make run: the gateway never became ready")
	}
	return time.Since(t0), nil
}

// hashAlone is the PIN hash computed with the service's default
// parameters, and nothing else.
type hashAlone struct {
	rate float64       // hashes per second
	cpu  time.Duration // CPU per hash: this process's, whose idle stores add a little
}

// meanOf is the mean of two measurements, taken on both sides of a case.
func meanOf(a, b hashAlone) hashAlone {
	return hashAlone{rate: (a.rate + b.rate) / 2, cpu: (a.cpu + b.cpu) / 2}
}

// argonRate measures the hash alone on goroutines goroutines for about d:
// the hashes under way at d finish, and the rate is over the time they
// all took.
func argonRate(d time.Duration, goroutines int) hashAlone {
	var n atomic.Int64
	cpu0, _ := cpuTime(os.Getpid())
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			salt := make([]byte, 16)
			for time.Now().Before(end) {
				argon2.IDKey([]byte("7193"), salt, 2, 19456, 1, 32)
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	cpu1, _ := cpuTime(os.Getpid())
	return hashAlone{rate: float64(n.Load()) / took.Seconds(), cpu: (cpu1 - cpu0) / time.Duration(max(1, n.Load()))}
}

// register runs the whole registration flow and returns the token.
func register(base, email, phone, pin string) (string, error) {
	r, err := post(base+"/api/v2/email_send_otp", map[string]string{"email": email})
	if err != nil {
		return "", err
	}
	user := dig(r, "response", "user")
	uuid, code := str(user, "uuid"), str(user, "verification_code")
	if _, err := post(base+"/api/v2/email_verify_otp", map[string]string{"email": email, "verification_code": code}); err != nil {
		return "", err
	}
	if r, err = post(base+"/api/v2/phone_send_otp", map[string]string{"email": email, "phone": phone}); err != nil {
		return "", err
	}
	code = str(dig(r, "response", "user"), "verification_code")
	if _, err := post(base+"/api/v2/phone_verify_otp", map[string]string{"uuid": uuid, "verification_code": code}); err != nil {
		return "", err
	}
	if _, err := post(base+"/api/v2/set_pin", map[string]string{"uuid": uuid, "pin": pin}); err != nil {
		return "", err
	}
	r, err = post(base+"/api/v2/confirm_pin", map[string]string{"uuid": uuid, "confirm_pin": pin, "fcm_last_login_device_token": "bench"})
	if err != nil {
		return "", err
	}
	return str(dig(r, "success"), "token"), nil
}

func post(url string, body any) (map[string]any, error) {
	raw, _ := json.Marshal(body)
	res, err := client.Post(url, "application/json", strings.NewReader(string(raw)))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("POST %s: %d %s", url, res.StatusCode, out)
	}
	var m map[string]any
	return m, json.Unmarshal(out, &m)
}

func get(url, token string) ([]byte, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %d %s", url, res.StatusCode, out)
	}
	return out, nil
}

func dig(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m, _ = m[p].(map[string]any)
	}
	return m
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitFor(limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	return nil
}

// rssMiB reads a process's resident set from /proc.
func rssMiB(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kib / 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

func labelOf(name string, extra []string) string {
	for _, kv := range extra {
		if v, ok := strings.CutPrefix(kv, "BENCH_LABEL="); ok {
			return v
		}
	}
	return name
}

// profiled runs a load case while taking a CPU profile of every process,
// when -profile is set.
func (b *bench) profiled(label string, d time.Duration, run func() result) result {
	if b.profileDir == "" {
		return run()
	}
	if err := os.MkdirAll(b.profileDir, 0o755); err != nil {
		fmt.Fprintln(b.out, "profile:", err)
		return run()
	}
	var wg sync.WaitGroup
	secs := max(1, int((d + d/5).Seconds()))
	for proc, addr := range b.ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
			if err != nil {
				return
			}
			defer res.Body.Close()
			f, err := os.Create(filepath.Join(b.profileDir, label+"-"+proc+".pprof"))
			if err != nil {
				return
			}
			defer f.Close()
			_, _ = io.Copy(f, res.Body)
		}()
	}
	// This process runs the stores (FerretDB, NATS, S3) and the load.
	if f, err := os.Create(filepath.Join(b.profileDir, label+"-stores-and-load.pprof")); err == nil {
		defer f.Close()
		if pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	r := run()
	wg.Wait()
	return r
}

func processName(c *exec.Cmd) string {
	name := filepath.Base(c.Path)
	for _, kv := range c.Env {
		if v, ok := strings.CutPrefix(kv, "BENCH_LABEL="); ok {
			return v
		}
	}
	return name
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// storeOps counts the store operations of n requests sent one after
// another by do, as the watch sees them, less what the services' own
// loops (relay, sweeps) did over a window as long with no requests, and
// adds the mean per request to the report. want > 0 is its target: the
// mean, rounded to a whole operation, at most want.
func (b *bench) storeOps(rep *report, name string, want float64, n int, do func(int) error) {
	b.watch.Reset()
	start := time.Now()
	for i := range n {
		if err := do(i); err != nil {
			rep.add("store operations per "+name, "not measured: "+err.Error(), "", false)
			return
		}
	}
	took := time.Since(start)
	ops, by := b.watch.Operations(), b.watch.OperationsBy()
	b.watch.Reset()
	time.Sleep(took) // the idle window: a duration to count in, not a wait for an outcome
	idle := b.watch.Operations()
	per := float64(ops-idle) / float64(n)
	value := fmt.Sprintf("%.2f (%d operations in %d requests, %d in as long with none)", per, ops, n, idle)
	kinds := slices.Sorted(maps.Keys(by))
	for i, k := range kinds {
		kinds[i] = fmt.Sprintf("%s %.2f", k, float64(by[k])/float64(n))
	}
	rep.notes = append(rep.notes, "store operations per "+name+", by command and collection: "+strings.Join(kinds, ", "))
	if want <= 0 {
		rep.add("store operations per "+name, value, "", true)
		return
	}
	rep.add("store operations per "+name, value, fmt.Sprintf("≤ %.0f", want), math.Round(per) <= want)
}

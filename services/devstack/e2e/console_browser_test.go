package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/imagex/imagextest"
)

// screenshots is where each console page's picture is written on every
// run (a CI artifact; never drawn by hand): docs/console of the repository,
// found from this file (the suite's working directory is not the package's).
var screenshots = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "docs", "console")
}()

// browser starts one headless Chromium (Debian's chromium package) for the
// whole test. Without one the test is skipped, except in CI (CI=true),
// where .ci/run installs it and its absence is a failure.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI: no chromium on PATH (.ci/run installs Debian's chromium)")
		}
		t.Skip("no chromium on PATH: apt-get install -y chromium to run the console's browser tests")
	}
	// The profile in a temp dir of the test's own, removed once the browser
	// has ended (chromedp's /tmp/chromedp-runner* dirs were left behind;
	// t.TempDir's cleanup could run while chromium still wrote to it).
	profile, err := os.MkdirTemp("", "doss-console-browser-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(profile))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, _ := chromedp.NewContext(actx)
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx) // closes the browser and waits for it
		cancelAlloc()
		// A child process may still be finishing its last writes: poll
		// until the profile is gone.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			err := os.RemoveAll(profile)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("browser profile %s not removed: %v", profile, err)
				return
			}
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return ctx
}

// run runs the actions with a deadline, failing t on error.
func run(t *testing.T, bctx context.Context, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

func shot(t *testing.T, bctx context.Context, name string) {
	t.Helper()
	var png []byte
	run(t, bctx, chromedp.FullScreenshot(&png, 100))
	if err := os.MkdirAll(screenshots, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshots, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkPage checks the page shown as the issue asks of every console page and
// writes its screenshots: <name>.png at the desktop width, <name>-tablet.png
// at a tablet's (768×1024) where nothing may overflow sideways, and every
// control has an accessible name.
func checkPage(t *testing.T, bctx context.Context, name string) {
	t.Helper()
	shot(t, bctx, name)
	unnamed(t, bctx, name)
	fits(t, bctx, name, 1280)
	run(t, bctx, chromedp.EmulateViewport(768, 1024))
	defer run(t, bctx, emulation.ClearDeviceMetricsOverride())
	fits(t, bctx, name+" on a tablet", 768)
	shot(t, bctx, name+"-tablet")
}

// fits checks that the page, in a window width px wide, needs no sideways
// scrolling.
func fits(t *testing.T, bctx context.Context, name string, width int) {
	t.Helper()
	var fit struct {
		ScrollWidth, InnerWidth int
		Wide                    []string
	}
	run(t, bctx, chromedp.Evaluate(overflowJS, &fit))
	if fit.InnerWidth != width {
		t.Fatalf("%s: the window is %d px wide, want %d", name, fit.InnerWidth, width)
	}
	if fit.ScrollWidth > fit.InnerWidth {
		t.Errorf("%s: %d px of content in a %d px window; too wide: %s", name, fit.ScrollWidth, fit.InnerWidth, strings.Join(fit.Wide, "; "))
	}
}

// overflowJS measures the page and names the innermost elements whose right
// edge passes the window's (the ones to fix).
const overflowJS = `(() => {
  const w = window.innerWidth;
  const wide = [...document.body.querySelectorAll("*")]
    .filter(el => el.getBoundingClientRect().right > w + 0.5 && ![...el.children].some(c => c.getBoundingClientRect().right > w + 0.5))
    .slice(0, 8).map(el => el.outerHTML.slice(0, 120));
  return {ScrollWidth: document.documentElement.scrollWidth, InnerWidth: w, Wide: wide};
})()`

// unnamedJS lists the controls a screen reader could not name: no label
// (for= or wrapping), no aria-label(ledby), and for a button no text.
const unnamedJS = `[...document.querySelectorAll("input:not([type=hidden]), select, textarea, button")].filter(el => {
  const said = s => (s || "").trim() !== "";
  if (said(el.getAttribute("aria-label"))) return false;
  const by = el.getAttribute("aria-labelledby");
  if (by && by.split(/\s+/).some(id => said(document.getElementById(id)?.textContent))) return false;
  if ([...(el.labels || [])].some(l => said(l.textContent))) return false;
  if (el.tagName === "BUTTON" && said(el.textContent)) return false;
  if (el.tagName === "INPUT" && ["submit", "button", "reset"].includes(el.type) && said(el.value)) return false;
  return true;
}).map(el => el.outerHTML.slice(0, 160))`

func unnamed(t *testing.T, bctx context.Context, name string) {
	t.Helper()
	var bad []string
	run(t, bctx, chromedp.Evaluate(unnamedJS, &bad))
	if len(bad) > 0 {
		t.Errorf("%s: controls without an accessible name: %s", name, strings.Join(bad, "; "))
	}
}

func text(t *testing.T, bctx context.Context, sel string) string {
	t.Helper()
	var s string
	run(t, bctx, chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

// waitText polls until sel's text contains want: after a click that
// navigates, the old page may still be the one shown.
func waitText(t *testing.T, bctx context.Context, sel, want string) {
	t.Helper()
	eventually(t, sel+" to say "+want, func() bool {
		var s string
		ctx, cancel := context.WithTimeout(bctx, 2*time.Second)
		defer cancel()
		err := chromedp.Run(ctx, chromedp.Text(sel, &s, chromedp.ByQuery, chromedp.AtLeast(0)))
		return err == nil && strings.Contains(s, want)
	})
}

func (e *env) browserLogin(t *testing.T, bctx context.Context, m *staffMember, screenshot string) {
	t.Helper()
	run(t, bctx, chromedp.Navigate(e.base+"/console/login"), chromedp.WaitVisible("#login", chromedp.ByQuery),
		chromedp.SendKeys("#name", m.Name, chromedp.ByQuery), chromedp.SendKeys("#password", m.Password, chromedp.ByQuery),
		chromedp.SendKeys("#code", m.nextCode(t), chromedp.ByQuery))
	if screenshot != "" {
		checkPage(t, bctx, screenshot)
	}
	run(t, bctx, chromedp.Click("#login button", chromedp.ByQuery), chromedp.WaitVisible("form.who", chromedp.ByQuery))
	if who := text(t, bctx, "form.who span"); !strings.Contains(who, m.Name) {
		t.Fatalf("signed in as %q", who)
	}
}

func browserLogout(t *testing.T, bctx context.Context) {
	t.Helper()
	run(t, bctx, chromedp.Click("form.who button", chromedp.ByQuery), chromedp.WaitVisible("#login", chromedp.ByQuery))
}

// The console in a real browser: a reviewer signs in with password and
// TOTP and works through the queue (the app sees the identity status
// change; a rejection's reason reaches the user through the notifier),
// support unlocks a locked phone and its owner logs in, a reviewer cannot
// reach support actions, and a form without its CSRF token is refused.
// Each page it visits fits 1280 px and a tablet (768×1024) without
// sideways scrolling, names every control, and has its screenshots written
// to docs/console/ (<page>.png, <page>-tablet.png); at the end a reviewer
// signs in and approves both sides of a document by keyboard alone, the
// focus drawn at every step.
func TestConsoleInBrowser(t *testing.T) {
	bctx := browser(t)
	e, _ := startDocuments(t, nil)
	reviewer := e.staff("rita", contract.RoleReviewer)
	supporter := e.staff("sam", contract.RoleSupport)
	admin := e.staff("ada", contract.RoleAdmin)

	_, tokenA := e.register("browser-a@example.com", "+14155550171", "7193")
	_, tokenB := e.register("browser-b@example.com", "+14155550172", "7193")
	expect(t, e.do(http.MethodPost, "/api/v2/update_name", tokenA, `{"first_name":"Ann","last_name":"Able"}`), 200)
	docA := decodeDoc(t, e.addDocument(tokenA, "1", "id-front.jpg", imagextest.JPEG(320, 200, 1)))
	backA := decodeDoc(t, e.addDocument(tokenA, "2", "id-back.jpg", imagextest.JPEG(320, 200, 2)))
	docB := decodeDoc(t, e.addDocument(tokenB, "3", "passport.jpg", imagextest.JPEG(320, 200, 1)))
	if s := e.profile(tokenA).str("identity_status"); s != "pending" {
		t.Fatalf("identity status before review: %s", s)
	}

	t.Run("sign in with password and TOTP", func(t *testing.T) {
		e.browserLogin(t, bctx, reviewer, "login")
		run(t, bctx, chromedp.WaitVisible("#start", chromedp.ByQuery))
		if c := text(t, bctx, ".counts"); !strings.Contains(c, "3 awaiting review") {
			t.Fatalf("queue counts %q", c)
		}
		checkPage(t, bctx, "queue")
	})

	t.Run("approve: the app sees the identity status change", func(t *testing.T) {
		run(t, bctx, chromedp.Click("#start", chromedp.ByQuery), chromedp.WaitVisible("#approve", chromedp.ByQuery))
		checkPage(t, bctx, "review")
		if id := text(t, bctx, ".wide h2"); !strings.Contains(id, "#"+strconv.FormatInt(docA.ID, 10)) {
			t.Fatalf("the oldest first: %q", id)
		}
		var sides int
		run(t, bctx, chromedp.Evaluate(`document.querySelectorAll(".sides img").length`, &sides))
		if sides != 2 {
			t.Fatalf("front and back side by side: %d images", sides)
		}
		run(t, bctx, chromedp.Click("#approve button", chromedp.ByQuery))
		waitText(t, bctx, ".notice", strconv.FormatInt(docA.ID, 10)+" approved")
		// The next pending item follows: the back of the same card.
		if h := text(t, bctx, ".wide h2"); !strings.Contains(h, "#"+strconv.FormatInt(backA.ID, 10)) {
			t.Fatalf("next item %q", h)
		}
		if s := e.profile(tokenA).str("identity_status"); s != "pending" {
			t.Fatalf("one side approved: %s", s)
		}
		run(t, bctx, chromedp.Click("#approve button", chromedp.ByQuery))
		waitText(t, bctx, ".notice", strconv.FormatInt(backA.ID, 10)+" approved")
		eventually(t, "A verified", func() bool { return e.profile(tokenA).str("identity_status") == "verified" })
		// The next pending item follows.
		if h := text(t, bctx, ".wide h2"); !strings.Contains(h, "#"+strconv.FormatInt(docB.ID, 10)) {
			t.Fatalf("next item %q", h)
		}
	})

	t.Run("reject with a reason: the notifier tells the user", func(t *testing.T) {
		run(t, bctx, chromedp.SendKeys("#reason_other", "The corner with the photo is folded over.", chromedp.ByQuery),
			chromedp.Click("#reject button", chromedp.ByQuery))
		waitText(t, bctx, ".notice", strconv.FormatInt(docB.ID, 10)+" rejected")
		eventually(t, "B rejected", func() bool { return e.profile(tokenB).str("identity_status") == "rejected" })
		eventually(t, "the rejection mail", func() bool {
			return strings.Contains(e.do(http.MethodGet, "/dev/outbox?to=browser-b@example.com", "", "").raw, "folded over")
		})
	})

	t.Run("a second reviewer sees who decided", func(t *testing.T) {
		run(t, bctx, chromedp.Navigate(e.base+"/console/documents/"+strconv.FormatInt(docA.ID, 10)), chromedp.WaitVisible("#doc-status", chromedp.ByQuery))
		if by := text(t, bctx, "#reviewed-by"); by != reviewer.Name {
			t.Fatalf("reviewed by %q", by)
		}
		var forms int
		run(t, bctx, chromedp.Evaluate(`document.querySelectorAll("#approve, #reject").length`, &forms))
		if forms != 0 {
			t.Fatal("a decided document still offers a decision")
		}
	})

	t.Run("a reviewer cannot open support actions", func(t *testing.T) {
		run(t, bctx, chromedp.Navigate(e.base+"/console/users/1"), chromedp.WaitVisible("h1", chromedp.ByQuery))
		var n int
		run(t, bctx, chromedp.Evaluate(`document.querySelectorAll("#unlock, #revoke-all").length`, &n))
		if h := text(t, bctx, "h1"); h != "Forbidden" || n != 0 {
			t.Fatalf("reviewer on the user page: %q, %d support forms", h, n)
		}
		var navUsers int
		run(t, bctx, chromedp.Navigate(e.base+"/console/queue"), chromedp.WaitVisible("nav", chromedp.ByQuery),
			chromedp.Evaluate(`document.querySelectorAll('nav a[href="/console/users"]').length`, &navUsers))
		if navUsers != 0 {
			t.Fatal("a reviewer is offered the user search")
		}
		browserLogout(t, bctx)
	})

	// The owner of phone C is locked out by nine wrong PINs from unknown
	// devices (a stranger who knows the number can do that).
	_, _ = e.register("browser-c@example.com", "+14155550173", "7193")
	for i := range 9 {
		expect(t, e.post("/api/v2/new-login", js(map[string]string{"phone": "+14155550173", "password": "000" + strconv.Itoa(i)})), 401)
	}
	expect(t, e.post("/api/v2/new-login", js(map[string]string{"phone": "+14155550173", "password": "7193"})), 429)

	t.Run("support unlocks a locked phone and its owner logs in", func(t *testing.T) {
		e.browserLogin(t, bctx, supporter, "")
		run(t, bctx, chromedp.WaitVisible("#search", chromedp.ByQuery))
		checkPage(t, bctx, "search")
		run(t, bctx, chromedp.SendKeys("#q", "+14155550173", chromedp.ByQuery), chromedp.Click("#search button", chromedp.ByQuery),
			chromedp.WaitVisible("#lockout", chromedp.ByQuery))
		if l := text(t, bctx, "#lockout"); !strings.Contains(l, "Locked") {
			t.Fatalf("lockout %q", l)
		}
		if f := text(t, bctx, "#twofa"); f != "off" {
			t.Fatalf("2FA %q", f)
		}
		checkPage(t, bctx, "user")
		run(t, bctx, chromedp.Click("#unlock button", chromedp.ByQuery))
		waitText(t, bctx, ".notice", "PIN lockout cleared")
		if l := text(t, bctx, "#lockout"); !strings.HasPrefix(l, "Not locked") {
			t.Fatalf("after unlock %q", l)
		}
		expect(t, e.post("/api/v2/new-login", js(map[string]string{"phone": "+14155550173", "password": "7193"})), 200)
	})

	t.Run("support ends every session of a user", func(t *testing.T) {
		run(t, bctx, chromedp.WaitVisible("#revoke-all", chromedp.ByQuery), chromedp.Click("#revoke-all button", chromedp.ByQuery))
		waitText(t, bctx, ".notice", "session(s) ended")
		// The trail is kept from the event stream, so it may lag a moment.
		eventually(t, "the user's audit trail", func() bool {
			var s string
			ctx, cancel := context.WithTimeout(bctx, 10*time.Second)
			defer cancel()
			err := chromedp.Run(ctx, chromedp.Reload(), chromedp.WaitVisible("#trail", chromedp.ByQuery), chromedp.Text("#trail", &s, chromedp.ByQuery))
			return err == nil && strings.Contains(s, "unlock PIN") && strings.Contains(s, "revoke sessions")
		})
	})

	t.Run("support cancels a pending deletion and its owner logs in", func(t *testing.T) {
		_, tokenD := e.register("browser-d@example.com", "+14155550174", "7193")
		idD := e.userID(tokenD)
		expect(t, e.deleteAccount(tokenD, "7193"), 202)
		expect(t, e.post("/api/v2/new-login", js(map[string]string{"phone": "+14155550174", "password": "7193"})), 403)
		eventually(t, "the pending deletion on the user page", func() bool {
			var s string
			ctx, cancel := context.WithTimeout(bctx, 10*time.Second)
			defer cancel()
			err := chromedp.Run(ctx, chromedp.Navigate(e.base+"/console/users/"+strconv.FormatInt(idD, 10)),
				chromedp.WaitVisible("#deletion", chromedp.ByQuery), chromedp.Text("#deletion", &s, chromedp.ByQuery))
			return err == nil && strings.Contains(s, "pending")
		})
		checkPage(t, bctx, "user-deletion")
		run(t, bctx, chromedp.Click("#cancel-deletion button", chromedp.ByQuery))
		waitText(t, bctx, ".notice", "Deletion cancelled")
		if s := text(t, bctx, "#deletion-status"); s != "cancelled" {
			t.Fatalf("after the cancel %q", s)
		}
		expect(t, e.post("/api/v2/new-login", js(map[string]string{"phone": "+14155550174", "password": "7193"})), 200)
	})

	t.Run("CSRF: a form posted without its token is refused", func(t *testing.T) {
		run(t, bctx, chromedp.WaitVisible("#unlock", chromedp.ByQuery),
			chromedp.Evaluate(`document.querySelector('#unlock input[name="_csrf"]').remove(); true`, new(bool)),
			chromedp.Click("#unlock button", chromedp.ByQuery))
		waitText(t, bctx, ".error", "did not come from the console")
		var loc string
		run(t, bctx, chromedp.Location(&loc))
		if h := text(t, bctx, "h1"); h != "Forbidden" {
			t.Fatalf("without the token: %q at %s", h, loc)
		}
		if m := text(t, bctx, ".error"); !strings.Contains(m, "did not come from the console") {
			t.Fatalf("message %q", m)
		}
		browserLogout(t, bctx)
	})

	t.Run("admin: staff and audit pages", func(t *testing.T) {
		e.browserLogin(t, bctx, admin, "")
		run(t, bctx, chromedp.Navigate(e.base+"/console/staff"), chromedp.WaitVisible("#create", chromedp.ByQuery),
			chromedp.SendKeys("#new-name", "new-support", chromedp.ByQuery), chromedp.SetValue("#new-role", "support", chromedp.ByQuery),
			chromedp.Click("#create button", chromedp.ByQuery), chromedp.WaitVisible("#credentials", chromedp.ByQuery))
		if pw := text(t, bctx, "#new-password"); len(pw) < 20 {
			t.Fatalf("password %q", pw)
		}
		checkPage(t, bctx, "staff")
		eventually(t, "the actions in the audit page", func() bool {
			var s string
			ctx, cancel := context.WithTimeout(bctx, 10*time.Second)
			defer cancel()
			err := chromedp.Run(ctx, chromedp.Navigate(e.base+"/console/audit"), chromedp.WaitVisible("#audit", chromedp.ByQuery), chromedp.Text("#audit", &s, chromedp.ByQuery))
			return err == nil && strings.Contains(s, "decide document: approved") && strings.Contains(s, "unlock PIN") && strings.Contains(s, "create staff")
		})
		checkPage(t, bctx, "audit")
		run(t, bctx, chromedp.Navigate(e.base+"/console/documents/"+strconv.FormatInt(docB.ID, 10)), chromedp.WaitVisible("#history", chromedp.ByQuery))
		if h := text(t, bctx, "#history"); !strings.Contains(h, "rita decide document: rejected") {
			t.Fatalf("history %q", h)
		}
		checkPage(t, bctx, "review-decided")
		browserLogout(t, bctx)
	})

	t.Run("keyboard only: sign in and approve with Tab and Enter", func(t *testing.T) {
		_, tokenE := e.register("browser-e@example.com", "+14155550175", "7193")
		docE := decodeDoc(t, e.addDocument(tokenE, "3", "passport.jpg", imagextest.JPEG(320, 200, 3)))
		backE := decodeDoc(t, e.addDocument(tokenE, "4", "passport-back.jpg", imagextest.JPEG(320, 200, 4)))
		kim := e.staff("kim", contract.RoleReviewer)
		run(t, bctx, chromedp.Navigate(e.base+"/console/login"), chromedp.WaitVisible("#login", chromedp.ByQuery),
			chromedp.Focus("#name", chromedp.ByQuery), chromedp.KeyEvent(kim.Name), chromedp.KeyEvent(kb.Tab))
		focusShows(t, bctx, "#password")
		run(t, bctx, chromedp.KeyEvent(kim.Password), chromedp.KeyEvent(kb.Tab))
		focusShows(t, bctx, "#code")
		run(t, bctx, chromedp.KeyEvent(kim.nextCode(t)), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible("#start", chromedp.ByQuery))
		if who := text(t, bctx, "form.who span"); !strings.Contains(who, kim.Name) {
			t.Fatalf("signed in as %q", who)
		}
		tabTo(t, bctx, "#start")
		run(t, bctx, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible("#approve", chromedp.ByQuery))
		// Both sides, each by Tab and Enter; the back follows the front.
		for _, id := range []int64{docE.ID, backE.ID} {
			if h := text(t, bctx, ".wide h2"); !strings.Contains(h, "#"+strconv.FormatInt(id, 10)) {
				t.Fatalf("review page %q, want #%d", h, id)
			}
			tabTo(t, bctx, "#approve button")
			run(t, bctx, chromedp.KeyEvent(kb.Enter))
			waitText(t, bctx, ".notice", strconv.FormatInt(id, 10)+" approved")
		}
		eventually(t, "E verified", func() bool { return e.profile(tokenE).str("identity_status") == "verified" })
	})
}

// tabTo presses Tab until sel has the focus (at most 60 times: a page whose
// action cannot be reached by Tab fails here), and checks the focus shows.
func tabTo(t *testing.T, bctx context.Context, sel string) {
	t.Helper()
	for range 60 {
		var here bool
		run(t, bctx, chromedp.KeyEvent(kb.Tab),
			chromedp.Evaluate(`document.activeElement === document.querySelector(`+strconv.Quote(sel)+`)`, &here))
		if here {
			focusShows(t, bctx, sel)
			return
		}
	}
	t.Fatalf("%s is not reached by Tab", sel)
}

// focusShows checks that sel has the focus and that it is drawn: the
// focused element's computed outline is a visible line of 2 px or more.
func focusShows(t *testing.T, bctx context.Context, sel string) {
	t.Helper()
	var f struct {
		Focused      bool
		Style, Color string
		Width        float64
	}
	run(t, bctx, chromedp.Evaluate(`(() => {
  const el = document.activeElement, cs = getComputedStyle(el);
  return {Focused: el === document.querySelector(`+strconv.Quote(sel)+`), Style: cs.outlineStyle, Width: parseFloat(cs.outlineWidth) || 0, Color: cs.outlineColor};
})()`, &f))
	if !f.Focused {
		t.Fatalf("%s does not have the focus", sel)
	}
	if f.Style == "none" || f.Width < 2 || f.Color == "rgba(0, 0, 0, 0)" {
		t.Errorf("the focus on %s is not visible: outline %s %.1fpx %s", sel, f.Style, f.Width, f.Color)
	}
}

package reconcile_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hpgate/hpgate/pipeline/reconcile"
)

// chromium returns the browser the page test drives: Debian's chromium.
// Under CI a missing browser fails the test (.ci/test installs it);
// elsewhere the test is skipped with the install command.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: apt-get install -y chromium (bash .ci/test installs it)")
	}
	t.Skip("chromium is not installed; to run the page test: apt-get install -y chromium")
	return ""
}

// browser starts a headless chromium with a fresh profile and no network
// activity of its own, and returns a tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := chromium(t)
	profile, err := os.MkdirTemp("", "hpgate-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Chromium's helpers may write into the profile briefly after it exits.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	tctx, tcancel := chromedp.NewContext(actx)
	t.Cleanup(tcancel)
	return tctx
}

// TestReconcilePageInBrowser opens report.html in a real browser: it must
// render without console errors, draw its SVG charts, and show exactly the
// figures of the CSV files.
func TestReconcilePageInBrowser(t *testing.T) {
	ctx := browser(t)
	addr := produce(t, fixtureStream(t), reconcile.Topics("hp.")...)
	rep := load(t, addr)
	dir := t.TempDir()
	if _, err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}

	// Subscribe to the console before the page loads.
	cctx, ccancel := context.WithCancel(ctx)
	var (
		mu       sync.Mutex
		problems []string
		wg       sync.WaitGroup
	)
	messages := chromedp.Console(cctx)
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	})
	page := (&url.URL{Scheme: "file", Path: filepath.Join(dir, "report.html")}).String()
	if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitReady("#discrepancies")); err != nil {
		t.Fatal(err)
	}
	type shape struct {
		Charts, Bars, Targets, Discrepancies int
		Rendered                             bool
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[shape](`({
		charts: document.querySelectorAll('svg.chart').length,
		bars: document.querySelectorAll('svg.chart rect.bar').length,
		targets: document.querySelectorAll('svg.chart line.target').length,
		discrepancies: document.querySelectorAll('tr[data-discrepancy]').length,
		rendered: [...document.querySelectorAll('svg.chart')].every(s => {
			const r = s.getBoundingClientRect(); return r.width > 100 && r.height > 20 })
	})`))
	if err != nil {
		t.Fatal(err)
	}
	// Charts: coverage (6 bars, 6 targets), R03 (2, 2), R10 (10, none),
	// discrepancies by kind (2 kinds).
	if want := (shape{Charts: 4, Bars: 20, Targets: 8, Discrepancies: 2, Rendered: true}); got != want {
		t.Errorf("page shape %+v, want %+v", got, want)
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...document.querySelectorAll('[data-figure]')].map(e => [e.dataset.figure, e.textContent.trim()]))`))
	if err != nil {
		t.Fatal(err)
	}
	ccancel()
	wg.Wait()
	if len(problems) > 0 {
		t.Errorf("console errors: %q", problems)
	}

	// Every figure of the CSV files is on the page, as the CSV has it.
	check := func(figure, want string) {
		t.Helper()
		if got, ok := shown[figure]; !ok {
			t.Errorf("page has no figure %s", figure)
		} else if got != want {
			t.Errorf("page shows %s = %q, CSV has %q", figure, got, want)
		}
	}
	h, ind := readCSV(t, filepath.Join(dir, "indicators.csv"))
	if len(ind) < 20 {
		t.Fatalf("indicators.csv has %d rows", len(ind))
	}
	for id, row := range ind {
		value := row[column(h, "value")]
		if value == "" {
			value = "—" // a rate without a denominator
		}
		check(id, value)
		if v := row[column(h, "numerator")]; v != "" {
			check(id+".numerator", v)
			check(id+".denominator", row[column(h, "denominator")])
		}
		if v := row[column(h, "target")]; v != "" {
			check(id+".target", v)
		}
	}
	h, re := readCSV(t, filepath.Join(dir, "reimbursement.csv"))
	for typ, row := range re {
		for _, c := range []string{"settlements", "total_cost", "reimbursed", "out_of_pocket"} {
			col := c
			if c != "settlements" {
				col += "_yuan"
			}
			check("reimbursement."+typ+"."+c, row[column(h, col)])
		}
		check("reimbursement."+typ+".ratio", row[column(h, "ratio_percent")])
	}
	h, fu := readCSV(t, filepath.Join(dir, "followup.csv"))
	for cond, row := range fu {
		check("followup."+cond+".managed", row[column(h, "managed")])
		check("followup."+cond+".compliant", row[column(h, "compliant")])
		check("followup."+cond+".rate", row[column(h, "rate_percent")])
	}
	check("county", county)
	check("year", "2019")
	check("as_of", "2019-12-31")
}

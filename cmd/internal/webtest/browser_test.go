package webtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// session is a headless Chromium tab with the helpers every browser test
// uses: screenshots into the artifacts, evaluate, poll, and a failure that
// shows the browser's console and the server's log.
type session struct {
	t      *testing.T
	ctx    context.Context
	shots  string
	name   string // prefix of the failure screenshot
	srvLog *syncBuffer

	mu      sync.Mutex
	console []string
}

// newSession starts Chromium (browser is its path) for at most four
// minutes; it stops when ctx ends or the test's cleanup runs.
func newSession(t *testing.T, ctx context.Context, browser, shots, name string, srvLog *syncBuffer) *session {
	t.Helper()
	s := &session{t: t, shots: shots, name: name, srvLog: srvLog}
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(browser)}, chromiumFlags...)...)...)
	bctx, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithLogf(func(f string, a ...any) {
		s.mu.Lock()
		s.console = append(s.console, fmt.Sprintf(f, a...))
		s.mu.Unlock()
	}))
	bctx, cancelTimeout := context.WithTimeout(bctx, 4*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelBrowser(); cancelAlloc() })
	s.ctx = bctx
	return s
}

func (s *session) shot(name string) {
	s.t.Helper()
	png, err := chromedp.Run(s.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(s.shots, name+".png"), png, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *session) fail(what string, err error) {
	s.t.Helper()
	s.shot(s.name + "-failure")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t.Fatalf("%s: %v\nbrowser log:\n%s\nserver log:\n%s", what, err, strings.Join(s.console, "\n"), tail(s.srvLog.String()))
}

func (s *session) eval(js string) any {
	s.t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Evaluate[any](js))
	if err != nil {
		s.fail("evaluate "+js, err)
	}
	return v
}

func (s *session) poll(what, js string, within time.Duration) {
	s.t.Helper()
	if _, err := chromedp.Run(s.ctx, chromedp.Poll[any](js, chromedp.WithPollingTimeout(within))); err != nil {
		s.fail("waiting for "+what+" ("+js+")", err)
	}
}

func (s *session) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	if err := chromedp.Do(s.ctx, steps...); err != nil {
		s.fail(what, err)
	}
}

package webtest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jagadesa/jagadesa/cmd/internal/jagadesacmd"
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
	// more, when set, adds other logs to a failure (the probe's).
	more func() string

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
	more := ""
	if s.more != nil {
		more = s.more()
	}
	s.t.Fatalf("%s: %v\nbrowser log:\n%s\n%sserver log:\n%s", what, err, strings.Join(s.console, "\n"), more, tail(s.srvLog.String()))
}

func (s *session) eval(js string) any {
	s.t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Evaluate[any](js))
	if err != nil {
		s.fail("evaluate "+js, err)
	}
	return v
}

// poll waits until js is truthy and logs how long the page took.
func (s *session) poll(what, js string, within time.Duration) {
	s.t.Helper()
	began := time.Now()
	if _, err := chromedp.Run(s.ctx, chromedp.Poll[any](js, chromedp.WithPollingTimeout(within))); err != nil {
		s.fail("waiting for "+what+" ("+js+")", err)
	}
	s.t.Logf("%s: %v", what, time.Since(began).Round(10*time.Millisecond))
}

func (s *session) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	if err := chromedp.Do(s.ctx, steps...); err != nil {
		s.fail(what, err)
	}
}

// serveFor runs `jagadesa serve --listen addr args…` until the test ends,
// and returns once it is healthy.
func serveFor(t *testing.T, addr string, args ...string) (base string, log *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- jagadesacmd.Run(ctx, append([]string{"serve", "--listen", addr}, args...), getenv, nil, log, log)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("server did not stop")
		}
	})
	base = "http://" + addr
	for i := 0; ; i++ {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, log
			}
		}
		if i > 150 {
			t.Fatalf("server not healthy:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

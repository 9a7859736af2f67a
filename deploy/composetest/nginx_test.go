package composetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nginxBinary finds nginx, which scripts/test.sh installs. CI must have it;
// elsewhere the nginx tests skip.
func nginxBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	// Debian puts it in /usr/sbin, which is not on every user's PATH.
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx not found; scripts/test.sh installs it (apt-get install nginx)")
	}
	t.Skip("nginx not found (apt-get install nginx); CI runs this test")
	return ""
}

// nginxConfig writes, under dir, a copy of deploy/nginx/jagadesa.conf with
// the replicas' names replaced by the given addresses and the listener moved
// to listen, and a main nginx.conf that includes it inside http {} as the
// official image does. nginx looks upstream names up when it loads its
// configuration, and jagadesa-a and jagadesa-b exist only on the compose
// network, so the copy names loopback addresses instead. It returns the
// main file's path.
func nginxConfig(t *testing.T, dir, listen, replicaA, replicaB string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "deploy/nginx/jagadesa.conf"))
	if err != nil {
		t.Fatal(err)
	}
	site := string(b)
	for _, r := range []struct{ old, new string }{
		{"server jagadesa-a:8080 ", "server " + replicaA + " "},
		{"server jagadesa-b:8080 ", "server " + replicaB + " "},
		{"listen 80;", "listen " + listen + ";"},
	} {
		// Exactly once, so that a reshaped file fails here rather than
		// leaving a name nginx cannot resolve.
		if n := strings.Count(site, r.old); n != 1 {
			t.Fatalf("jagadesa.conf has %q %d times, want once", r.old, n)
		}
		site = strings.Replace(site, r.old, r.new, 1)
	}
	sitePath := filepath.Join(dir, "jagadesa.conf")
	if err := os.WriteFile(sitePath, []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	// One process that stays in the foreground and writes only under dir:
	// no root needed, nothing left behind.
	main := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log notice;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[2]s;
}
`, dir, sitePath)
	mainPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(mainPath, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	return mainPath
}

// TestNginxConfigValid runs `nginx -t` on the site file.
func TestNginxConfigValid(t *testing.T) {
	bin := nginxBinary(t)
	dir := t.TempDir()
	conf := nginxConfig(t, dir, "127.0.0.1:8080", "127.0.0.1:18081", "127.0.0.1:18082")
	out, err := exec.Command(bin, "-t", "-e", "stderr", "-p", dir, "-c", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "test is successful") {
		t.Errorf("nginx -t said:\n%s", out)
	}
}

// replica is a stand-in for one JagaDesa server: it names itself and echoes
// the forwarding headers it was given.
func replica(t *testing.T, name string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s %d %s %s", name, n, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestNginxBalancesAndSkipsDeadReplica runs the real nginx with the site
// file in front of two stand-in replicas: requests reach both, carry the
// client's address and scheme, the body limits hold, and when one replica
// is gone every request still succeeds on the other.
func TestNginxBalancesAndSkipsDeadReplica(t *testing.T) {
	bin := nginxBinary(t)
	a, b := replica(t, "a"), replica(t, "b")
	dir := t.TempDir()
	listen := freeAddr(t)
	conf := nginxConfig(t, dir, listen, a.Listener.Addr().String(), b.Listener.Addr().String())

	errorLog := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return string(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-e", "stderr", "-p", dir, "-c", conf)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("nginx output:\n%s\nerror log:\n%s", out.String(), errorLog())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("nginx exited: %v", exitErr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not listening on %s after 10 s", listen)
		}
		time.Sleep(20 * time.Millisecond)
	}

	client := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + listen
	do := func(method, path string, body []byte) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(got)
	}

	seen := map[string]int{}
	for range 4 {
		code, got := do("GET", "/healthz", nil)
		if code != http.StatusOK {
			t.Fatalf("GET /healthz: %d %q", code, got)
		}
		f := strings.Fields(got)
		if len(f) != 4 || f[2] != "127.0.0.1" || f[3] != "http" {
			t.Errorf("replica saw %q, want X-Forwarded-For 127.0.0.1 and X-Forwarded-Proto http", got)
		}
		seen[f[0]]++
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Errorf("requests per replica = %v, want both used", seen)
	}

	// A probe batch of up to 4 MiB passes, 9 MB does not, except to the
	// speed test, which takes far more and is passed on unbuffered.
	if code, got := do("POST", "/api/v1/reports", make([]byte, 4<<20)); code != http.StatusOK || !strings.Contains(got, fmt.Sprint(4<<20)) {
		t.Errorf("POST of 4 MiB: %d %q", code, got)
	}
	if code, _ := do("POST", "/api/v1/reports", make([]byte, 9_000_000)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("POST of 9 MB: %d, want 413", code)
	}
	if code, got := do("POST", "/api/v1/speedtest", make([]byte, 20_000_000)); code != http.StatusOK || !strings.Contains(got, "20000000") {
		t.Errorf("speed-test upload of 20 MB: %d %q", code, got)
	}

	a.Close()
	// Round robin sends one of the first two requests to the dead replica:
	// make both POSTs, which nginx may retry only because the refused
	// connection never delivered them.
	for i, method := range []string{"POST", "POST", "GET", "GET", "POST", "GET"} {
		code, got := do(method, "/api/v1/status", []byte("{}"))
		if code != http.StatusOK || !strings.HasPrefix(got, "b ") {
			t.Errorf("%s %d with replica a down: %d %q, want b's answer", method, i, code, got)
		}
	}
	if l := errorLog(); !strings.Contains(l, "Connection refused") || !strings.Contains(l, `request: "POST /api/v1/status`) {
		t.Errorf("nginx did not log a refused POST to the dead replica; error log:\n%s", l)
	}
}

package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server"
	"github.com/jagadesa/jagadesa/server/threatfeed"
)

func TestThreatFeedEndpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "feed.txt")
	os.WriteFile(path, []byte("# test feed\n203.0.113.9\nevil.example\n"), 0o644)
	src, err := threatfeed.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	src.CheckEvery = time.Nanosecond
	reg, _ := geo.Jateng()
	e := newEnv(t, reg, func(d *server.Deps) { d.ThreatFeed = src })
	get := func(token, etag string) (int, http.Header, []byte) {
		req, _ := http.NewRequest("GET", e.url+"/api/v1/threatfeed", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	code, h, b := get(e.tokA, "")
	var f jagadesa.ThreatFeed
	if code != 200 || json.Unmarshal(b, &f) != nil || f.Validate() != nil || len(f.IPs) != 1 || f.Domains[0] != "evil.example" || h.Get("ETag") != `"`+f.Version+`"` {
		t.Fatalf("feed: %d %s %s", code, h, b)
	}
	if code, _, _ := get(e.tokA, h.Get("ETag")); code != http.StatusNotModified {
		t.Fatalf("unchanged feed with If-None-Match: %d, want 304", code)
	}
	if code, _, _ := get(adminToken, ""); code != http.StatusUnauthorized {
		t.Fatalf("admin token on the probe endpoint: %d", code)
	}
	// The operator adds an entry: the next fetch has it, under a new ETag.
	time.Sleep(10 * time.Millisecond)
	os.WriteFile(path, []byte("# test feed\n203.0.113.9\nevil.example\n198.51.100.0/24\n"), 0o644)
	code, h2, b := get(e.tokA, h.Get("ETag"))
	if code != 200 || h2.Get("ETag") == h.Get("ETag") || json.Unmarshal(b, &f) != nil || len(f.Prefixes) != 1 {
		t.Fatalf("after the edit: %d %s %s", code, h2, b)
	}
	// A typo does not take the feed away: the last good one is served.
	time.Sleep(10 * time.Millisecond)
	os.WriteFile(path, []byte("203.0.113.9\n10.0.0.0/8\nnot a thing\n"), 0o644)
	if code, h3, _ := get(e.tokA, h2.Get("ETag")); code != http.StatusNotModified || h3.Get("ETag") != h2.Get("ETag") {
		t.Fatalf("after a bad edit: %d %s, want 304 with the last good ETag", code, h3.Get("ETag"))
	}

	// A server with no feed says so.
	plain := newEnv(t, reg, nil)
	if code, b := plain.do("GET", "/api/v1/threatfeed", plain.tokA, nil, ""); code != http.StatusNotFound {
		t.Fatalf("no feed: %d %s", code, b)
	}
}

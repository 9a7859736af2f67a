package server

import (
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

// webAssets serves the embedded dashboard: one page (index.html) for every
// dashboard path, and its scripts and styles under /assets/. Each file gets
// a strong ETag of its content, computed once at start, so browsers
// revalidate cheaply and never run a stale script after an upgrade.
type webAssets struct {
	files map[string]webFile // by path under the web root, e.g. "assets/app.js"
	csp   string
}

type webFile struct {
	body  []byte
	etag  string
	ctype string
}

func newWebAssets(root fs.FS, basemapURL string) (*webAssets, error) {
	w := &webAssets{files: map[string]webFile{}, csp: contentSecurityPolicy(basemapURL)}
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = http.DetectContentType(b)
		}
		w.files[p] = webFile{body: b, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`, ctype: ctype}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := w.files["index.html"]; !ok {
		return nil, fs.ErrNotExist
	}
	return w, nil
}

// contentSecurityPolicy allows only this server's own scripts and data, and
// blob: workers, which MapLibre starts from its own bundle. An online base
// map, when configured, adds its origin for images and fetches.
func contentSecurityPolicy(basemapURL string) string {
	extra := ""
	if u, err := url.Parse(strings.ReplaceAll(strings.ReplaceAll(basemapURL, "{", ""), "}", "")); err == nil && u.Scheme != "" && u.Host != "" {
		extra = " " + u.Scheme + "://" + u.Host
	}
	return "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:" + extra +
		"; connect-src 'self'" + extra + "; worker-src 'self' blob:; child-src blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
}

func (w *webAssets) serve(c *gin.Context, name string, cacheControl string) {
	f, ok := w.files[name]
	if !ok {
		_ = c.Error(notFound("no such file: /%s", name))
		return
	}
	c.Header("ETag", f.etag)
	c.Header("Cache-Control", cacheControl)
	c.Header("X-Content-Type-Options", "nosniff")
	if strings.HasPrefix(f.ctype, "text/html") {
		c.Header("Content-Security-Policy", w.csp)
		c.Header("X-Frame-Options", "DENY")
		c.Header("Referrer-Policy", "same-origin")
	}
	if inm := c.GetHeader("If-None-Match"); inm != "" && etagMatch(inm, f.etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, f.ctype, f.body)
}

// page serves the single-page dashboard for any of its routes; the script
// reads the path and draws the map, a village or a regency.
func (w *webAssets) page(c *gin.Context) { w.serve(c, "index.html", "no-cache") }

func (w *webAssets) asset(c *gin.Context) {
	p := strings.TrimPrefix(path.Clean("/"+c.Param("path")), "/")
	// Vendored libraries carry their version in the path and never change
	// under it; our own files are revalidated on every load.
	cc := "no-cache"
	if strings.HasPrefix(p, "vendor/") {
		cc = "public, max-age=86400"
	}
	w.serve(c, "assets/"+p, cc)
}

// handleConfig tells the page what the operator configured for it.
func (s *Server) handleConfig(c *gin.Context) {
	cfg := gin.H{"basemap_url": nil}
	if s.BasemapURL != "" {
		cfg["basemap_url"] = s.BasemapURL
	}
	c.JSON(http.StatusOK, cfg)
}

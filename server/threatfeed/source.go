package threatfeed

import (
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Source serves the feed file as it is now: it reloads the file when its
// size or modification time changes (looked at most every CheckEvery), so
// an operator edits the file and the probes get the new list at their next
// fetch, with no restart. A file that no longer loads is logged and the
// last good feed kept: an operator's typo never leaves the villages
// unprotected.
type Source struct {
	Path       string
	CheckEvery time.Duration // default 10 s
	Logger     *slog.Logger

	mu      sync.Mutex
	body    []byte
	etag    string
	feed    *jagadesa.ThreatFeed
	size    int64
	mod     time.Time
	checked time.Time
}

// Open loads the feed file once; an error here (a bad file at start) is
// the caller's to report.
func Open(path string, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{Path: path, Logger: log}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := s.load(fi); err != nil {
		return nil, err
	}
	s.checked = time.Now()
	return s, nil
}

func (s *Source) load(fi os.FileInfo) error {
	f, err := Load(s.Path)
	if err != nil {
		return err
	}
	body, etag, err := Encode(f)
	if err != nil {
		return err
	}
	s.body, s.etag, s.feed, s.size, s.mod = body, etag, f, fi.Size(), fi.ModTime()
	return nil
}

// Current returns the feed's JSON body, its ETag and the feed.
func (s *Source) Current() ([]byte, string, *jagadesa.ThreatFeed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	every := s.CheckEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	if now := time.Now(); now.Sub(s.checked) >= every {
		s.checked = now
		fi, err := os.Stat(s.Path)
		switch {
		case err != nil:
			s.Logger.Error("threat feed file unreadable; serving the last good feed", "path", s.Path, "err", err)
		case fi.Size() != s.size || !fi.ModTime().Equal(s.mod):
			old := s.etag
			if err := s.load(fi); err != nil {
				s.size, s.mod = fi.Size(), fi.ModTime() // log once per change
				s.Logger.Error("threat feed file rejected; serving the last good feed", "path", s.Path, "err", err)
			} else if s.etag != old {
				s.Logger.Info("threat feed reloaded", "path", s.Path, "version", s.feed.Version, "entries", s.feed.Len())
			}
		}
	}
	return s.body, s.etag, s.feed
}

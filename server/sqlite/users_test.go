package sqlite

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/metastore"
)

var t0 = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

// openAt opens the database in dir with its clock stopped at t0.
func openAt(t *testing.T, dir string) *DB {
	t.Helper()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	d.now = func() time.Time { return t0 }
	return d
}

// reopen closes d and opens its directory again, as a restart would.
func reopen(t *testing.T, d *DB, dir string) *DB {
	t.Helper()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return openAt(t, dir)
}

var (
	admin   = jagadesa.User{Username: "admin.jateng", Role: jagadesa.RoleProvinceAdmin, Province: "33"}
	analyst = jagadesa.User{Username: "csirt-purworejo", Role: jagadesa.RoleRegencyAnalyst, Province: "33", Regency: "33.06"}
)

func mustUser(t *testing.T, d *DB, u jagadesa.User) jagadesa.User {
	t.Helper()
	u, err := d.CreateUser(context.Background(), u, "hash-of-"+u.Username)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCreateUser(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openAt(t, dir)
	for _, tc := range []struct {
		name    string
		u       jagadesa.User
		hash    string
		code    string // "" for success
		problem string // a field the problems must name
	}{
		{"admin", admin, "h1", "", ""},
		{"regency analyst", analyst, "h2", "", ""},
		{"duplicate", admin, "h3", jagadesa.EConflict, ""},
		{"duplicate, other role", jagadesa.User{Username: "admin.jateng", Role: jagadesa.RoleViewer, Province: "33"}, "h", jagadesa.EConflict, ""},
		{"bad username", jagadesa.User{Username: "Admin Jateng", Role: jagadesa.RoleViewer, Province: "33"}, "h", jagadesa.EInvalid, "username"},
		{"unknown role", jagadesa.User{Username: "root", Role: "root", Province: "33"}, "h", jagadesa.EInvalid, "role"},
		{"regional without regency", jagadesa.User{Username: "tek", Role: jagadesa.RoleTechnician, Province: "33"}, "h", jagadesa.EInvalid, "regency"},
		{"no password hash", jagadesa.User{Username: "viewer", Role: jagadesa.RoleViewer, Province: "33"}, "", jagadesa.EInvalid, "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.CreateUser(ctx, tc.u, tc.hash)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.ID == 0 || !got.CreatedAt.Equal(t0) || got.Username != tc.u.Username {
					t.Fatalf("created %+v", got)
				}
				return
			}
			if jagadesa.ErrorCode(err) != tc.code {
				t.Fatalf("error %v, want code %s", err, tc.code)
			}
			if e, _ := err.(*jagadesa.Error); tc.problem != "" && e.Problems[tc.problem] == "" {
				t.Fatalf("problems %v lack %s", e.Problems, tc.problem)
			}
		})
	}

	d = reopen(t, d, dir)
	defer d.Close()
	u, hash, err := d.UserByName(ctx, "csirt-purworejo")
	if err != nil {
		t.Fatal(err)
	}
	if hash != "h2" || u.Role != jagadesa.RoleRegencyAnalyst || u.Regency != "33.06" || u.Province != "33" || u.Disabled || !u.CreatedAt.Equal(t0) || u.LastLogin != nil {
		t.Fatalf("after restart: %+v %q", u, hash)
	}
	if _, _, err := d.UserByName(ctx, "nobody"); jagadesa.ErrorCode(err) != jagadesa.ENotFound {
		t.Fatalf("unknown user: %v", err)
	}
	list, err := d.Users(ctx)
	if err != nil || len(list) != 2 || list[0].Username != "admin.jateng" || list[1].Username != "csirt-purworejo" {
		t.Fatalf("users %+v %v", list, err)
	}
	for role, want := range map[jagadesa.Role]int{jagadesa.RoleProvinceAdmin: 1, jagadesa.RoleRegencyAnalyst: 1, jagadesa.RoleViewer: 0} {
		if n, err := d.CountUsers(ctx, role); err != nil || n != want {
			t.Errorf("CountUsers(%s) = %d %v, want %d", role, n, err, want)
		}
	}
	if err := d.DisableUser(ctx, "admin.jateng"); err != nil {
		t.Fatal(err)
	}
	if n, _ := d.CountUsers(ctx, jagadesa.RoleProvinceAdmin); n != 0 {
		t.Fatalf("a disabled admin still counts: %d", n)
	}
	if _, err := d.CreateUser(ctx, admin, "h"); jagadesa.ErrorCode(err) != jagadesa.EConflict {
		t.Fatalf("the name of a disabled user taken again: %v", err)
	}
}

func TestRecordLogin(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openAt(t, dir)
	mustUser(t, d, admin)
	failures := func() (n int) {
		t.Helper()
		if err := d.db.QueryRow(`SELECT failed_logins FROM users WHERE username = ?`, admin.Username).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	at := t0.Add(time.Hour)
	for i, tc := range []struct {
		ok       bool
		failures int
	}{{false, 1}, {false, 2}, {true, 0}, {false, 1}} {
		if err := d.RecordLogin(ctx, admin.Username, tc.ok, at); err != nil {
			t.Fatal(err)
		}
		if got := failures(); got != tc.failures {
			t.Errorf("step %d: %d failures, want %d", i, got, tc.failures)
		}
	}
	if err := d.RecordLogin(ctx, "nobody", false, at); jagadesa.ErrorCode(err) != jagadesa.ENotFound {
		t.Fatalf("unknown user: %v", err)
	}
	d = reopen(t, d, dir)
	defer d.Close()
	u, _, _ := d.UserByName(ctx, admin.Username)
	if u.LastLogin == nil || !u.LastLogin.Equal(at) {
		t.Fatalf("last login after restart: %v", u.LastLogin)
	}
}

// Disabling an account revokes its tokens and ends its sessions, at once
// and across a restart, and leaves other accounts alone.
func TestDisableUser(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openAt(t, dir)
	a, b := mustUser(t, d, admin), mustUser(t, d, analyst)
	for _, tok := range []struct {
		user, name, hash string
	}{{a.Username, "laptop", "ta1"}, {a.Username, "script", "ta2"}, {b.Username, "laptop", "tb1"}} {
		if _, err := d.CreateUserToken(ctx, tok.user, tok.name, tok.hash); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []struct {
		hash string
		uid  int64
	}{{"sa1", a.ID}, {"sa2", a.ID}, {"sb1", b.ID}} {
		if err := d.CreateSession(ctx, s.hash, s.uid, t0, 12*time.Hour, "10.0.0.1", "Firefox"); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := d.UserByTokenHash("ta1"); !ok { // the cache is loaded now
		t.Fatal("token not accepted before disabling")
	}
	if err := d.DisableUser(ctx, a.Username); err != nil {
		t.Fatal(err)
	}
	if err := d.DisableUser(ctx, a.Username); err != nil {
		t.Fatalf("disabling twice: %v", err)
	}
	if err := d.DisableUser(ctx, "nobody"); jagadesa.ErrorCode(err) != jagadesa.ENotFound {
		t.Fatalf("disable unknown: %v", err)
	}
	check := func(when string) {
		t.Helper()
		for hash, want := range map[string]bool{"ta1": false, "ta2": false, "tb1": true} {
			if _, ok := d.UserByTokenHash(hash); ok != want {
				t.Errorf("%s: token %s accepted %v, want %v", when, hash, ok, want)
			}
		}
		for hash, want := range map[string]bool{"sa1": false, "sa2": false, "sb1": true} {
			if _, ok, err := d.Session(ctx, hash, t0.Add(time.Minute), time.Hour); err != nil || ok != want {
				t.Errorf("%s: session %s live %v %v, want %v", when, hash, ok, err, want)
			}
		}
		toks, err := d.UserTokens(ctx, a.Username)
		if err != nil || len(toks) != 2 || toks[0].RevokedAt == nil || toks[1].RevokedAt == nil {
			t.Errorf("%s: tokens of the disabled user %+v %v", when, toks, err)
		}
		if u, _, _ := d.UserByName(ctx, a.Username); !u.Disabled {
			t.Errorf("%s: user not disabled", when)
		}
	}
	check("at once")
	if _, err := d.CreateUserToken(ctx, a.Username, "new", "ta3"); jagadesa.ErrorCode(err) != jagadesa.EConflict {
		t.Fatalf("token for a disabled user: %v", err)
	}
	if err := d.CreateSession(ctx, "sa3", a.ID, t0, time.Hour, "", ""); jagadesa.ErrorCode(err) != jagadesa.EConflict {
		t.Fatalf("session for a disabled user: %v", err)
	}
	d = reopen(t, d, dir)
	defer d.Close()
	check("after restart")
}

// A new password ends every session of its account, and only of its
// account.
func TestSetPasswordEndsSessions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openAt(t, dir)
	a, b := mustUser(t, d, admin), mustUser(t, d, analyst)
	for _, s := range []struct {
		hash string
		uid  int64
	}{{"sa1", a.ID}, {"sa2", a.ID}, {"sb1", b.ID}} {
		if err := d.CreateSession(ctx, s.hash, s.uid, t0, 12*time.Hour, "10.0.0.1", "Firefox"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.CreateUserToken(ctx, a.Username, "laptop", "ta1"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPassword(ctx, a.Username, "new-hash"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPassword(ctx, "nobody", "x"); jagadesa.ErrorCode(err) != jagadesa.ENotFound {
		t.Fatalf("unknown user: %v", err)
	}
	if err := d.SetPassword(ctx, a.Username, ""); jagadesa.ErrorCode(err) != jagadesa.EInvalid {
		t.Fatalf("empty hash: %v", err)
	}
	d = reopen(t, d, dir)
	defer d.Close()
	if _, hash, _ := d.UserByName(ctx, a.Username); hash != "new-hash" {
		t.Fatalf("hash %q after restart", hash)
	}
	for hash, want := range map[string]bool{"sa1": false, "sa2": false, "sb1": true} {
		if _, ok, err := d.Session(ctx, hash, t0.Add(time.Minute), time.Hour); err != nil || ok != want {
			t.Errorf("session %s live %v %v, want %v", hash, ok, err, want)
		}
	}
	if _, ok := d.UserByTokenHash("ta1"); !ok {
		t.Error("a password change revoked a personal token")
	}
}

// Idle and absolute expiry, with the clock in the caller's hands.
func TestSessionExpiry(t *testing.T) {
	const idle, absolute = 30 * time.Minute, 2 * time.Hour
	type step struct {
		at   time.Duration // after creation
		live bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"fresh", []step{{0, true}, {time.Minute, true}}},
		{"idle exactly the limit", []step{{idle, true}}},
		{"idle too long", []step{{idle + time.Millisecond, false}, {idle + 2*time.Millisecond, false}}},
		{"use keeps it alive", []step{{20 * time.Minute, true}, {40 * time.Minute, true}, {60 * time.Minute, true}, {80 * time.Minute, true}}},
		{"idle counts from the last recorded touch", []step{{30 * time.Second, true}, {idle + 10*time.Second, false}}},
		{"absolute expiry despite use", []step{{25 * time.Minute, true}, {50 * time.Minute, true}, {75 * time.Minute, true}, {100 * time.Minute, true}, {absolute - time.Millisecond, true}, {absolute, false}}},
		{"gone once expired", []step{{absolute + time.Hour, false}, {time.Minute, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d := openAt(t, t.TempDir())
			defer d.Close()
			u := mustUser(t, d, analyst)
			if err := d.CreateSession(ctx, "s", u.ID, t0, absolute, "10.0.0.1", "Firefox"); err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				got, live, err := d.Session(ctx, "s", t0.Add(s.at), idle)
				if err != nil {
					t.Fatal(err)
				}
				if live != s.live || live && got.Username != u.Username {
					t.Fatalf("step %d (+%v): live %v %+v, want %v", i, s.at, live, got, s.live)
				}
			}
		})
	}
	t.Run("no idle limit", func(t *testing.T) {
		ctx := context.Background()
		d := openAt(t, t.TempDir())
		defer d.Close()
		u := mustUser(t, d, analyst)
		d.CreateSession(ctx, "s", u.ID, t0, absolute, "", "")
		if _, live, _ := d.Session(ctx, "s", t0.Add(absolute-time.Minute), 0); !live {
			t.Fatal("idle 0 expired the session")
		}
	})
}

// last_seen is written at most once a minute per session.
func TestSessionTouchThrottled(t *testing.T) {
	ctx := context.Background()
	d := openAt(t, t.TempDir())
	defer d.Close()
	u := mustUser(t, d, admin)
	if err := d.CreateSession(ctx, "s", u.ID, t0, time.Hour, "", ""); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at, lastSeen time.Duration
	}{{10 * time.Second, 0}, {59 * time.Second, 0}, {time.Minute, time.Minute}, {90 * time.Second, time.Minute}, {3 * time.Minute, 3 * time.Minute}} {
		if _, live, err := d.Session(ctx, "s", t0.Add(tc.at), time.Hour); !live || err != nil {
			t.Fatalf("+%v: %v %v", tc.at, live, err)
		}
		var ms int64
		d.db.QueryRow(`SELECT last_seen FROM sessions WHERE id_hash = 's'`).Scan(&ms)
		if got := time.UnixMilli(ms).Sub(t0); got != tc.lastSeen {
			t.Errorf("after a request at +%v: last_seen +%v, want +%v", tc.at, got, tc.lastSeen)
		}
	}
}

// Sessions survive a restart; a signed-out or expired one does not.
func TestSessionsPersist(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openAt(t, dir)
	a, b := mustUser(t, d, admin), mustUser(t, d, analyst)
	for _, s := range []struct {
		hash string
		uid  int64
		life time.Duration
	}{{"keep", a.ID, 12 * time.Hour}, {"out", a.ID, 12 * time.Hour}, {"short", a.ID, time.Hour}, {"b1", b.ID, 12 * time.Hour}, {"b2", b.ID, 12 * time.Hour}} {
		if err := d.CreateSession(ctx, s.hash, s.uid, t0, s.life, "2001:db8::1", "Mozilla/5.0"); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.CreateSession(ctx, "keep", a.ID, t0, time.Hour, "", ""); jagadesa.ErrorCode(err) != jagadesa.EConflict {
		t.Fatalf("duplicate session: %v", err)
	}
	if err := d.CreateSession(ctx, "x", 999, t0, time.Hour, "", ""); jagadesa.ErrorCode(err) != jagadesa.ENotFound {
		t.Fatalf("session of no user: %v", err)
	}
	if err := d.EndSession(ctx, "out"); err != nil {
		t.Fatal(err)
	}
	if err := d.EndUserSessions(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	d = reopen(t, d, dir)
	defer d.Close()
	now := t0.Add(2 * time.Hour)
	if n, err := d.PruneSessions(ctx, now); err != nil || n != 1 {
		t.Fatalf("pruned %d %v, want 1 (short)", n, err)
	}
	for hash, want := range map[string]bool{"keep": true, "out": false, "short": false, "b1": false, "b2": false} {
		u, live, err := d.Session(ctx, hash, now, 0)
		if err != nil || live != want || live && u.ID != a.ID {
			t.Errorf("session %s after restart: %v %+v %v, want %v", hash, live, u, err, want)
		}
	}
	var addr, ua string
	d.db.QueryRow(`SELECT address, user_agent FROM sessions WHERE id_hash = 'keep'`).Scan(&addr, &ua)
	if addr != "2001:db8::1" || ua != "Mozilla/5.0" {
		t.Fatalf("address %q, user agent %q", addr, ua)
	}
	// An account disabled by any path, not only DisableUser, has no session.
	if _, err := d.db.Exec(`UPDATE users SET disabled = 1 WHERE id = ?`, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, live, err := d.Session(ctx, "keep", now, 0); live || err != nil {
		t.Fatalf("session of a disabled account: %v %v", live, err)
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{{"abc", 5, "abc"}, {"abcdef", 3, "abc"}, {"aé", 2, "a"}, {"a\xffb", 5, "ab"}} {
		if got := metastore.Clip(tc.in, tc.n); got != tc.want {
			t.Errorf("metastore.Clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// Personal tokens: shown to their owner without the hash, revocable, and a
// revocation is honoured by the in-memory lookup at once.
func TestUserTokens(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openAt(t, dir)
	a, b := mustUser(t, d, admin), mustUser(t, d, analyst)
	if _, ok := d.UserByTokenHash("ta1"); ok { // loads the (empty) cache
		t.Fatal("an unknown token accepted")
	}
	ids := map[string]int64{}
	for _, tc := range []struct {
		user, name, hash string
		code             string
	}{
		{a.Username, "laptop", "ta1", ""},
		{a.Username, "script", "ta2", ""},
		{b.Username, "laptop", "tb1", ""},
		{b.Username, "again", "ta1", jagadesa.EConflict},
		{"nobody", "x", "tx", jagadesa.ENotFound},
		{a.Username, "", "tx", jagadesa.EInvalid},
		{a.Username, "x", "", jagadesa.EInvalid},
	} {
		id, err := d.CreateUserToken(ctx, tc.user, tc.name, tc.hash)
		if tc.code == "" && err != nil || tc.code != "" && jagadesa.ErrorCode(err) != tc.code {
			t.Fatalf("create %s/%s: %v, want %q", tc.user, tc.name, err, tc.code)
		}
		if err == nil {
			ids[tc.hash] = id
		}
	}
	// Tokens created after the cache was loaded are accepted.
	for hash, want := range map[string]string{"ta1": a.Username, "ta2": a.Username, "tb1": b.Username, "nope": ""} {
		u, ok := d.UserByTokenHash(hash)
		if ok != (want != "") || u.Username != want {
			t.Errorf("token %s: %+v %v, want %q", hash, u, ok, want)
		}
	}
	if err := d.RevokeUserToken(ctx, b.Username, ids["ta2"]); jagadesa.ErrorCode(err) != jagadesa.ENotFound {
		t.Fatalf("revoking another user's token: %v", err)
	}
	if err := d.RevokeUserToken(ctx, a.Username, ids["ta2"]); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.UserByTokenHash("ta2"); ok {
		t.Fatal("a revoked token still accepted from the cache")
	}
	if _, ok := d.UserByTokenHash("ta1"); !ok {
		t.Fatal("revoking one token dropped another")
	}
	if err := d.RevokeUserToken(ctx, a.Username, ids["ta2"]); jagadesa.ErrorCode(err) != jagadesa.ENotFound {
		t.Fatalf("revoking twice: %v", err)
	}
	toks, err := d.UserTokens(ctx, a.Username)
	if err != nil || len(toks) != 2 || toks[0].Name != "script" || toks[0].RevokedAt == nil || toks[1].Name != "laptop" || toks[1].RevokedAt != nil || !toks[1].CreatedAt.Equal(t0) {
		t.Fatalf("tokens %+v %v", toks, err)
	}
	if _, err := d.UserTokens(ctx, "nobody"); jagadesa.ErrorCode(err) != jagadesa.ENotFound {
		t.Fatalf("tokens of nobody: %v", err)
	}
	// The user a token names carries the latest sign-in.
	if err := d.RecordLogin(ctx, a.Username, true, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if u, _ := d.UserByTokenHash("ta1"); u.LastLogin == nil || !u.LastLogin.Equal(t0.Add(time.Hour)) {
		t.Fatalf("last login via token: %v", u.LastLogin)
	}

	d = reopen(t, d, dir)
	defer d.Close()
	for hash, want := range map[string]bool{"ta1": true, "ta2": false, "tb1": true} {
		if _, ok := d.UserByTokenHash(hash); ok != want {
			t.Errorf("token %s after restart: %v, want %v", hash, ok, want)
		}
	}
}

// last_used is written at most once a minute per token.
func TestTokenLastUsed(t *testing.T) {
	ctx := context.Background()
	d := openAt(t, t.TempDir())
	defer d.Close()
	mustUser(t, d, admin)
	id, err := d.CreateUserToken(ctx, admin.Username, "laptop", "ta1")
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	d.now = func() time.Time { return now }
	for _, tc := range []struct {
		at, lastUsed time.Duration
	}{{0, 0}, {30 * time.Second, 0}, {time.Minute, time.Minute}, {119 * time.Second, time.Minute}, {5 * time.Minute, 5 * time.Minute}} {
		now = t0.Add(tc.at)
		if _, ok := d.UserByTokenHash("ta1"); !ok {
			t.Fatal("token not accepted")
		}
		toks, _ := d.UserTokens(ctx, admin.Username)
		if len(toks) != 1 || toks[0].ID != id || toks[0].LastUsed == nil || toks[0].LastUsed.Sub(t0) != tc.lastUsed {
			t.Errorf("after use at +%v: %+v, want last used +%v", tc.at, toks, tc.lastUsed)
		}
	}
}

// Lookups racing revocations and new tokens: once RevokeUserToken or
// DisableUser has returned, the token is refused. Run with -race.
func TestTokenCacheConcurrent(t *testing.T) {
	ctx := context.Background()
	d := openAt(t, t.TempDir())
	defer d.Close()
	mustUser(t, d, admin)
	v := mustUser(t, d, jagadesa.User{Username: "viewer", Role: jagadesa.RoleViewer, Province: "33"})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := range 20 {
					d.UserByTokenHash(fmt.Sprintf("t%d", i))
				}
			}
		})
	}
	for i := range 20 {
		h := fmt.Sprintf("t%d", i)
		id, err := d.CreateUserToken(ctx, admin.Username, "n", h)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := d.UserByTokenHash(h); !ok {
			t.Fatalf("%s refused after creation", h)
		}
		if i%2 == 0 {
			if err := d.RevokeUserToken(ctx, admin.Username, id); err != nil {
				t.Fatal(err)
			}
			if _, ok := d.UserByTokenHash(h); ok {
				t.Fatalf("%s accepted after revocation", h)
			}
		}
	}
	if _, err := d.CreateUserToken(ctx, v.Username, "n", "tv"); err != nil {
		t.Fatal(err)
	}
	if err := d.DisableUser(ctx, admin.Username); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, ok := d.UserByTokenHash(fmt.Sprintf("t%d", i)); ok {
			t.Fatalf("t%d accepted after its user was disabled", i)
		}
	}
	close(stop)
	wg.Wait()
	if u, ok := d.UserByTokenHash("tv"); !ok || u.ID != v.ID {
		t.Fatal("another user's token lost")
	}
}

// A lock and the failures before it survive a restart; a zero time unlocks.
func TestLoginStateAndLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateUser(ctx, jagadesa.User{Username: "analis", Role: jagadesa.RoleProvinceAnalyst, Province: "33"}, "$argon2id$x"); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for range 3 {
		if err := d.RecordLogin(ctx, "analis", false, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.LockUser(ctx, "analis", now.Add(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if d, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	failed, until, err := d.LoginState(ctx, "analis")
	if err != nil || failed != 3 || !until.Equal(now.Add(15*time.Minute)) {
		t.Fatalf("after restart: %d failed, locked until %v, %v", failed, until, err)
	}
	if err := d.LockUser(ctx, "analis", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, until, _ := d.LoginState(ctx, "analis"); !until.IsZero() {
		t.Fatalf("still locked until %v", until)
	}
	if _, _, err := d.LoginState(ctx, "nobody"); jagadesa.ErrorCode(err) != jagadesa.ENotFound {
		t.Fatalf("unknown user: %v", err)
	}
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/metastore"
)

// Staff accounts (issue 12): people, their personal API tokens and their
// browser sessions. Secrets arrive already hashed by the caller
// (server/accounts); the store keeps and compares those strings and never
// sees a password, a token or a session id.
var userMigrations = []string{
	// Users are never deleted (disabled instead), and AUTOINCREMENT keeps an
	// id from ever naming a second person.
	`CREATE TABLE IF NOT EXISTS users (
		id            INTEGER PRIMARY KEY AUTOINCREMENT,
		username      TEXT NOT NULL UNIQUE,
		role          TEXT NOT NULL,
		province      TEXT NOT NULL,
		regency       TEXT NOT NULL DEFAULT '',
		password_hash TEXT NOT NULL,
		disabled      INTEGER NOT NULL DEFAULT 0,
		created_at    INTEGER NOT NULL,
		last_login    INTEGER,
		failed_logins INTEGER NOT NULL DEFAULT 0,
		locked_until  INTEGER
	)`,
	`CREATE TABLE IF NOT EXISTS user_tokens (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		name       TEXT NOT NULL,
		token_hash TEXT NOT NULL UNIQUE,
		created_at INTEGER NOT NULL,
		last_used  INTEGER,
		revoked_at INTEGER
	)`,
	`CREATE INDEX IF NOT EXISTS user_tokens_user ON user_tokens(user_id)`,
	`CREATE TABLE IF NOT EXISTS sessions (
		id_hash    TEXT PRIMARY KEY,
		user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		created_at INTEGER NOT NULL,
		last_seen  INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		address    TEXT NOT NULL,
		user_agent TEXT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id)`,
	`CREATE INDEX IF NOT EXISTS sessions_expires ON sessions(expires_at)`,
}

// Limits on what a client sends about itself, stored with each session.
const (
	maxUserAgent = 512
	maxTokenName = 64
)

// TokenInfo describes one personal API token (metastore's, so that both
// stores answer with the same type).
type TokenInfo = metastore.TokenInfo

// userCols are the users columns scanUser reads, from a table aliased u.
const userCols = `u.id, u.username, u.role, u.province, u.regency, u.disabled, u.created_at, u.last_login`

// scanUser reads userCols, then extra.
func scanUser(sc interface{ Scan(...any) error }, extra ...any) (jagadesa.User, error) {
	var u jagadesa.User
	var role string
	var created int64
	var last sql.NullInt64
	if err := sc.Scan(append([]any{&u.ID, &u.Username, &role, &u.Province, &u.Regency, &u.Disabled, &created, &last}, extra...)...); err != nil {
		return jagadesa.User{}, err
	}
	u.Role, u.CreatedAt, u.LastLogin = jagadesa.Role(role), time.UnixMilli(created).UTC(), optTime(last)
	return u, nil
}

func optTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMilli(v.Int64).UTC()
	return &t
}

func isUnique(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "PRIMARY KEY"))
}

func noUser(name string) *jagadesa.Error {
	return jagadesa.Errorf(jagadesa.ENotFound, "no user %q", name)
}

// CreateUser stores a new account with the caller's hash of its password
// and returns it with its id and creation time. The account must pass
// User.Validate (EInvalid with the problems otherwise); a username in use
// is a conflict, even one of a disabled account.
func (d *DB) CreateUser(ctx context.Context, u jagadesa.User, passwordHash string) (jagadesa.User, error) {
	p := u.Validate()
	if passwordHash == "" {
		if p == nil {
			p = jagadesa.Problems{}
		}
		p["password"] = "a password hash is required"
	}
	if len(p) > 0 {
		return jagadesa.User{}, &jagadesa.Error{Code: jagadesa.EInvalid, Message: "invalid user", Problems: p}
	}
	u.CreatedAt, u.LastLogin = d.now().UTC().Truncate(time.Millisecond), nil
	res, err := d.db.ExecContext(ctx, `INSERT INTO users(username, role, province, regency, password_hash, disabled, created_at) VALUES(?,?,?,?,?,?,?)`,
		u.Username, string(u.Role), u.Province, u.Regency, passwordHash, u.Disabled, u.CreatedAt.UnixMilli())
	if isUnique(err) {
		return jagadesa.User{}, jagadesa.Errorf(jagadesa.EConflict, "user %q exists", u.Username)
	}
	if err != nil {
		return jagadesa.User{}, fmt.Errorf("sqlite: create user %s: %w", u.Username, err)
	}
	if u.ID, err = res.LastInsertId(); err != nil {
		return jagadesa.User{}, fmt.Errorf("sqlite: create user %s: %w", u.Username, err)
	}
	return u, nil
}

// UserByName returns an account, disabled or not (the caller refuses a
// disabled one), and its password hash.
func (d *DB) UserByName(ctx context.Context, name string) (jagadesa.User, string, error) {
	var hash string
	u, err := scanUser(d.db.QueryRowContext(ctx, `SELECT `+userCols+`, u.password_hash FROM users u WHERE u.username = ?`, name), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return jagadesa.User{}, "", noUser(name)
	}
	if err != nil {
		return jagadesa.User{}, "", fmt.Errorf("sqlite: user %s: %w", name, err)
	}
	return u, hash, nil
}

// Users lists every account, disabled ones too, by username.
func (d *DB) Users(ctx context.Context) ([]jagadesa.User, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+userCols+` FROM users u ORDER BY u.username`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: users: %w", err)
	}
	defer rows.Close()
	out := []jagadesa.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// CountUsers counts the enabled accounts with a role, e.g. to know whether
// the province has an admin who can still sign in.
func (d *DB) CountUsers(ctx context.Context, role jagadesa.Role) (int, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = ? AND disabled = 0`, string(role)).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count users: %w", err)
	}
	return n, nil
}

// SetPassword replaces an account's password hash and, in the same
// transaction, ends every session of the account (sign-out everywhere).
// Personal API tokens stay valid.
func (d *DB) SetPassword(ctx context.Context, name, hash string) error {
	if hash == "" {
		return &jagadesa.Error{Code: jagadesa.EInvalid, Message: "invalid password", Problems: jagadesa.Problems{"password": "a password hash is required"}}
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: set password %s: %w", name, err)
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `UPDATE users SET password_hash = ? WHERE username = ? RETURNING id`, hash, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return noUser(name)
	}
	if err != nil {
		return fmt.Errorf("sqlite: set password %s: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
		return fmt.Errorf("sqlite: set password %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: set password %s: %w", name, err)
	}
	return nil
}

// DisableUser disables an account and, in the same transaction, revokes
// its tokens and ends its sessions. Disabling a disabled account is a
// no-op; there is no way back for its tokens.
func (d *DB) DisableUser(ctx context.Context, name string) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: disable %s: %w", name, err)
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `UPDATE users SET disabled = 1 WHERE username = ? RETURNING id`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return noUser(name)
	}
	if err != nil {
		return fmt.Errorf("sqlite: disable %s: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE user_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, d.now().UnixMilli(), id); err != nil {
		return fmt.Errorf("sqlite: disable %s: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
		return fmt.Errorf("sqlite: disable %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: disable %s: %w", name, err)
	}
	d.userTokens().forget(func(e *cachedToken) bool { return e.user.ID == id })
	return nil
}

// RecordLogin notes a sign-in attempt: a success sets last_login and
// clears the count of failures, a failure adds one to it. It does not
// touch locked_until.
func (d *DB) RecordLogin(ctx context.Context, name string, ok bool, now time.Time) error {
	var res sql.Result
	var err error
	if ok {
		res, err = d.db.ExecContext(ctx, `UPDATE users SET last_login = ?, failed_logins = 0 WHERE username = ?`, now.UnixMilli(), name)
	} else {
		res, err = d.db.ExecContext(ctx, `UPDATE users SET failed_logins = failed_logins + 1 WHERE username = ?`, name)
	}
	if err != nil {
		return fmt.Errorf("sqlite: record login %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return noUser(name)
	}
	if ok {
		at := time.UnixMilli(now.UnixMilli()).UTC()
		c := d.userTokens()
		c.mu.Lock()
		for _, e := range c.byHash {
			if e.user.Username == name {
				e.user.LastLogin = &at
			}
		}
		c.mu.Unlock()
	}
	return nil
}

// LoginState says how many sign-ins failed in a row for the account and
// until when it is locked (zero: not locked).
func (d *DB) LoginState(ctx context.Context, name string) (failed int, lockedUntil time.Time, err error) {
	var until sql.NullInt64
	err = d.db.QueryRowContext(ctx, `SELECT failed_logins, locked_until FROM users WHERE username = ?`, name).Scan(&failed, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, noUser(name)
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("sqlite: login state %s: %w", name, err)
	}
	if until.Valid {
		lockedUntil = time.UnixMilli(until.Int64).UTC()
	}
	return failed, lockedUntil, nil
}

// LockUser refuses sign-in to the account until then (a zero time
// unlocks it). The lock survives a restart.
func (d *DB) LockUser(ctx context.Context, name string, until time.Time) error {
	var v any
	if !until.IsZero() {
		v = until.UnixMilli()
	}
	res, err := d.db.ExecContext(ctx, `UPDATE users SET locked_until = ? WHERE username = ?`, v, name)
	if err != nil {
		return fmt.Errorf("sqlite: lock %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return noUser(name)
	}
	return nil
}

// Personal API tokens. UserByTokenHash runs on every API request, so the
// live tokens of enabled accounts are held in memory, as the probes' are.
//
// The cache only ever grows by loading it whole from the database, under
// its lock; a writer commits first and then only removes from the cache
// or drops it. So a token revoked in the database is never served from
// memory once the revocation has returned.

type tokenCache struct {
	mu     sync.RWMutex
	loaded bool
	byHash map[string]*cachedToken
}

type cachedToken struct {
	id       int64
	user     jagadesa.User // guarded by tokenCache.mu
	lastUsed atomic.Int64  // unix ms last written to last_used
}

func (d *DB) userTokens() *tokenCache { return &d.tokens }

// load fills the cache from the database unless it is filled.
func (c *tokenCache) load(d *DB) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded {
		return nil
	}
	rows, err := d.db.Query(`SELECT ` + userCols + `, t.id, t.token_hash, t.last_used
		FROM user_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.revoked_at IS NULL AND u.disabled = 0`)
	if err != nil {
		return fmt.Errorf("sqlite: load user tokens: %w", err)
	}
	defer rows.Close()
	m := map[string]*cachedToken{}
	for rows.Next() {
		e := &cachedToken{}
		var hash string
		var used sql.NullInt64
		if e.user, err = scanUser(rows, &e.id, &hash, &used); err != nil {
			return fmt.Errorf("sqlite: load user tokens: %w", err)
		}
		e.lastUsed.Store(used.Int64)
		m[hash] = e
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: load user tokens: %w", err)
	}
	c.byHash, c.loaded = m, true
	return nil
}

// drop empties the cache; the next lookup loads it again.
func (c *tokenCache) drop() {
	c.mu.Lock()
	c.byHash, c.loaded = nil, false
	c.mu.Unlock()
}

// forget removes the tokens f picks.
func (c *tokenCache) forget(f func(*cachedToken) bool) {
	c.mu.Lock()
	for h, e := range c.byHash {
		if f(e) {
			delete(c.byHash, h)
		}
	}
	c.mu.Unlock()
}

func (c *tokenCache) lookup(hash string) (e *cachedToken, u jagadesa.User, loaded bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e = c.byHash[hash]; e != nil {
		u = e.user
	}
	return e, u, c.loaded
}

// CreateUserToken stores the caller's hash of a new personal API token of
// an enabled account, under a name its owner chose, and returns its id.
func (d *DB) CreateUserToken(ctx context.Context, username, name, tokenHash string) (int64, error) {
	p := jagadesa.Problems{}
	if name == "" || len(name) > maxTokenName || !utf8.ValidString(name) {
		p["name"] = fmt.Sprintf("1 to %d bytes of UTF-8", maxTokenName)
	}
	if tokenHash == "" {
		p["token"] = "a token hash is required"
	}
	if len(p) > 0 {
		return 0, &jagadesa.Error{Code: jagadesa.EInvalid, Message: "invalid token", Problems: p}
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: create token for %s: %w", username, err)
	}
	defer tx.Rollback()
	var uid int64
	var disabled bool
	err = tx.QueryRowContext(ctx, `SELECT id, disabled FROM users WHERE username = ?`, username).Scan(&uid, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, noUser(username)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: create token for %s: %w", username, err)
	}
	if disabled {
		return 0, jagadesa.Errorf(jagadesa.EConflict, "user %q is disabled", username)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO user_tokens(user_id, name, token_hash, created_at) VALUES(?,?,?,?)`,
		uid, name, tokenHash, d.now().UnixMilli())
	if isUnique(err) {
		return 0, jagadesa.Errorf(jagadesa.EConflict, "token exists")
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: create token for %s: %w", username, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("sqlite: create token for %s: %w", username, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: create token for %s: %w", username, err)
	}
	d.userTokens().drop()
	return id, nil
}

// UserByTokenHash returns the enabled account a live personal token
// belongs to. It answers from memory; it writes last_used at most once a
// minute per token, and does not fail a request for it.
func (d *DB) UserByTokenHash(hash string) (jagadesa.User, bool) {
	c := d.userTokens()
	e, u, loaded := c.lookup(hash)
	if !loaded {
		if err := c.load(d); err != nil {
			return jagadesa.User{}, false
		}
		e, u, _ = c.lookup(hash)
	}
	if e == nil {
		return jagadesa.User{}, false
	}
	now := d.now().UnixMilli()
	if last := e.lastUsed.Load(); now-last >= metastore.TouchEvery.Milliseconds() && e.lastUsed.CompareAndSwap(last, now) {
		d.db.Exec(`UPDATE user_tokens SET last_used = ? WHERE id = ?`, now, e.id) // best effort: only a hint for its owner
	}
	return u, true
}

// RevokeUserToken revokes one live token of an account.
func (d *DB) RevokeUserToken(ctx context.Context, username string, id int64) error {
	res, err := d.db.ExecContext(ctx, `UPDATE user_tokens SET revoked_at = ?
		WHERE id = ? AND revoked_at IS NULL AND user_id = (SELECT id FROM users WHERE username = ?)`, d.now().UnixMilli(), id, username)
	if err != nil {
		return fmt.Errorf("sqlite: revoke token %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return jagadesa.Errorf(jagadesa.ENotFound, "user %q has no live token %d", username, id)
	}
	d.userTokens().forget(func(e *cachedToken) bool { return e.id == id })
	return nil
}

// UserTokens lists an account's tokens, revoked ones too, newest first.
func (d *DB) UserTokens(ctx context.Context, username string) ([]TokenInfo, error) {
	var uid int64
	err := d.db.QueryRowContext(ctx, `SELECT id FROM users WHERE username = ?`, username).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, noUser(username)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: tokens of %s: %w", username, err)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT id, name, created_at, last_used, revoked_at FROM user_tokens WHERE user_id = ? ORDER BY id DESC`, uid)
	if err != nil {
		return nil, fmt.Errorf("sqlite: tokens of %s: %w", username, err)
	}
	defer rows.Close()
	out := []TokenInfo{}
	for rows.Next() {
		var t TokenInfo
		var created int64
		var used, revoked sql.NullInt64
		if err := rows.Scan(&t.ID, &t.Name, &created, &used, &revoked); err != nil {
			return nil, fmt.Errorf("sqlite: tokens of %s: %w", username, err)
		}
		t.CreatedAt, t.LastUsed, t.RevokedAt = time.UnixMilli(created).UTC(), optTime(used), optTime(revoked)
		out = append(out, t)
	}
	return out, rows.Err()
}

// Browser sessions, kept in the database so a restart signs nobody out.
// The caller holds the session id; the store has only its hash.

// CreateSession stores a session of an enabled account, valid until
// now+absolute at the latest. The client's address and user agent are
// kept, clipped, to show the person where they are signed in.
func (d *DB) CreateSession(ctx context.Context, idHash string, userID int64, now time.Time, absolute time.Duration, addr, ua string) error {
	if idHash == "" || absolute <= 0 {
		return jagadesa.Errorf(jagadesa.EInvalid, "a session needs an id hash and a positive lifetime")
	}
	ms := now.UnixMilli()
	res, err := d.db.ExecContext(ctx, `INSERT INTO sessions(id_hash, user_id, created_at, last_seen, expires_at, address, user_agent)
		SELECT ?, id, ?, ?, ?, ?, ? FROM users WHERE id = ? AND disabled = 0`,
		idHash, ms, ms, now.Add(absolute).UnixMilli(), metastore.Clip(addr, metastore.MaxAddress), metastore.Clip(ua, maxUserAgent), userID)
	if isUnique(err) {
		return jagadesa.Errorf(jagadesa.EConflict, "session exists")
	}
	if err != nil {
		return fmt.Errorf("sqlite: create session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var disabled bool
		err := d.db.QueryRowContext(ctx, `SELECT disabled FROM users WHERE id = ?`, userID).Scan(&disabled)
		if err == nil && disabled {
			return jagadesa.Errorf(jagadesa.EConflict, "user %d is disabled", userID)
		}
		return jagadesa.Errorf(jagadesa.ENotFound, "no user %d", userID)
	}
	return nil
}

// Session returns the account a session belongs to. It is false when the
// session is unknown, past its absolute expiry, idle for longer than idle
// (0: no idle limit), or its account is disabled; an expired session is
// deleted. A live session's last_seen is moved to now at most once a
// minute, so idle expiry may come up to a minute early, never late.
func (d *DB) Session(ctx context.Context, idHash string, now time.Time, idle time.Duration) (jagadesa.User, bool, error) {
	var lastSeen, expires int64
	u, err := scanUser(d.db.QueryRowContext(ctx, `SELECT `+userCols+`, s.last_seen, s.expires_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?`, idHash), &lastSeen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return jagadesa.User{}, false, nil
	}
	if err != nil {
		return jagadesa.User{}, false, fmt.Errorf("sqlite: session: %w", err)
	}
	ms := now.UnixMilli()
	if !metastore.SessionLive(u.Disabled, ms, expires, lastSeen, idle) {
		if err := d.EndSession(ctx, idHash); err != nil {
			return jagadesa.User{}, false, err
		}
		return jagadesa.User{}, false, nil
	}
	if ms-lastSeen >= metastore.TouchEvery.Milliseconds() {
		if _, err := d.db.ExecContext(ctx, `UPDATE sessions SET last_seen = ? WHERE id_hash = ? AND last_seen < ?`, ms, idHash, ms); err != nil {
			return jagadesa.User{}, false, fmt.Errorf("sqlite: touch session: %w", err)
		}
	}
	return u, true, nil
}

// EndSession signs one session out; an unknown session is no error.
func (d *DB) EndSession(ctx context.Context, idHash string) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash); err != nil {
		return fmt.Errorf("sqlite: end session: %w", err)
	}
	return nil
}

// EndUserSessions signs an account out everywhere.
func (d *DB) EndUserSessions(ctx context.Context, userID int64) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("sqlite: end sessions of user %d: %w", userID, err)
	}
	return nil
}

// PruneSessions deletes the sessions past their absolute expiry and says
// how many. (Idle ones go when next presented, or at their expiry.)
func (d *DB) PruneSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := d.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/metastore"
)

// Staff accounts, their personal API tokens and browser sessions, as in
// server/sqlite, but read through on every lookup: a revocation, a
// disabled account or a sign-out on one replica counts on all at once.

const (
	maxUserAgent = 512
	maxTokenName = 64
)

const userCols = `u.id, u.username, u.role, u.province, u.regency, u.disabled, u.created_at, u.last_login`

func scanUser(sc pgx.Row, extra ...any) (jagadesa.User, error) {
	var u jagadesa.User
	var role string
	var created int64
	var last *int64
	if err := sc.Scan(append([]any{&u.ID, &u.Username, &role, &u.Province, &u.Regency, &u.Disabled, &created, &last}, extra...)...); err != nil {
		return jagadesa.User{}, err
	}
	u.Role, u.CreatedAt, u.LastLogin = jagadesa.Role(role), ms(created), optTime(last)
	return u, nil
}

// CreateUser stores a new account with the caller's hash of its password.
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
	ctx, cancel := bound(ctx)
	defer cancel()
	err := d.pool.QueryRow(ctx, `INSERT INTO users(username, role, province, regency, password_hash, disabled, created_at) VALUES($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		u.Username, string(u.Role), u.Province, u.Regency, passwordHash, u.Disabled, u.CreatedAt.UnixMilli()).Scan(&u.ID)
	if isUnique(err) {
		return jagadesa.User{}, jagadesa.Errorf(jagadesa.EConflict, "user %q exists", u.Username)
	}
	if err != nil {
		return jagadesa.User{}, fmt.Errorf("postgres: create user %s: %w", u.Username, err)
	}
	return u, nil
}

// UserByName returns an account, disabled or not, and its password hash.
func (d *DB) UserByName(ctx context.Context, name string) (jagadesa.User, string, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	var hash string
	u, err := scanUser(d.pool.QueryRow(ctx, `SELECT `+userCols+`, u.password_hash FROM users u WHERE u.username = $1`, name), &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return jagadesa.User{}, "", noUser(name)
	}
	if err != nil {
		return jagadesa.User{}, "", fmt.Errorf("postgres: user %s: %w", name, err)
	}
	return u, hash, nil
}

// Users lists every account, disabled ones too, by username.
func (d *DB) Users(ctx context.Context) ([]jagadesa.User, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT `+userCols+` FROM users u ORDER BY u.username`)
	if err != nil {
		return nil, fmt.Errorf("postgres: users: %w", err)
	}
	defer rows.Close()
	out := []jagadesa.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: users: %w", err)
	}
	return out, nil
}

// CountUsers counts the enabled accounts with a role.
func (d *DB) CountUsers(ctx context.Context, role jagadesa.Role) (int, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	var n int
	if err := d.pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE role = $1 AND NOT disabled`, string(role)).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count users: %w", err)
	}
	return n, nil
}

// SetPassword replaces an account's password hash and, in the same
// transaction, ends every session of the account.
func (d *DB) SetPassword(ctx context.Context, name, hash string) error {
	if hash == "" {
		return &jagadesa.Error{Code: jagadesa.EInvalid, Message: "invalid password", Problems: jagadesa.Problems{"password": "a password hash is required"}}
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `UPDATE users SET password_hash = $1 WHERE username = $2 RETURNING id`, hash, name).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return noUser(name)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id)
		return err
	})
	return wrap(err, "set password "+name)
}

// wrap passes *jagadesa.Error on and gives other errors context.
func wrap(err error, what string) error {
	var je *jagadesa.Error
	if err == nil || errors.As(err, &je) {
		return err
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// DisableUser disables an account and, in the same transaction, revokes
// its tokens and ends its sessions.
func (d *DB) DisableUser(ctx context.Context, name string) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `UPDATE users SET disabled = true WHERE username = $1 RETURNING id`, name).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return noUser(name)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE user_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`, d.now().UnixMilli(), id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id)
		return err
	})
	return wrap(err, "disable "+name)
}

// RecordLogin notes a sign-in attempt: a success sets last_login and
// clears the count of failures, a failure adds one to it (atomically, so
// replicas' failures all count).
func (d *DB) RecordLogin(ctx context.Context, name string, ok bool, now time.Time) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	q, args := `UPDATE users SET failed_logins = failed_logins + 1 WHERE username = $1`, []any{name}
	if ok {
		q, args = `UPDATE users SET last_login = $2, failed_logins = 0 WHERE username = $1`, []any{name, now.UnixMilli()}
	}
	tag, err := d.pool.Exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("postgres: record login %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return noUser(name)
	}
	return nil
}

// LoginState says how many sign-ins failed in a row for the account and
// until when it is locked (zero: not locked).
func (d *DB) LoginState(ctx context.Context, name string) (failed int, lockedUntil time.Time, err error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	var until *int64
	err = d.pool.QueryRow(ctx, `SELECT failed_logins, locked_until FROM users WHERE username = $1`, name).Scan(&failed, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, time.Time{}, noUser(name)
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("postgres: login state %s: %w", name, err)
	}
	if until != nil {
		lockedUntil = ms(*until)
	}
	return failed, lockedUntil, nil
}

// LockUser refuses sign-in to the account until then (a zero time
// unlocks it).
func (d *DB) LockUser(ctx context.Context, name string, until time.Time) error {
	var v *int64
	if !until.IsZero() {
		u := until.UnixMilli()
		v = &u
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	tag, err := d.pool.Exec(ctx, `UPDATE users SET locked_until = $1 WHERE username = $2`, v, name)
	if err != nil {
		return fmt.Errorf("postgres: lock %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return noUser(name)
	}
	return nil
}

// CreateUserToken stores the caller's hash of a new personal API token of
// an enabled account and returns its id.
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
	ctx, cancel := bound(ctx)
	defer cancel()
	var id int64
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		var uid int64
		var disabled bool
		// FOR SHARE: a DisableUser on another replica waits for this
		// token or revokes it, never misses it.
		err := tx.QueryRow(ctx, `SELECT id, disabled FROM users WHERE username = $1 FOR SHARE`, username).Scan(&uid, &disabled)
		if errors.Is(err, pgx.ErrNoRows) {
			return noUser(username)
		}
		if err != nil {
			return err
		}
		if disabled {
			return jagadesa.Errorf(jagadesa.EConflict, "user %q is disabled", username)
		}
		err = tx.QueryRow(ctx, `INSERT INTO user_tokens(user_id, name, token_hash, created_at) VALUES($1, $2, $3, $4) RETURNING id`,
			uid, name, tokenHash, d.now().UnixMilli()).Scan(&id)
		if isUnique(err) {
			return jagadesa.Errorf(jagadesa.EConflict, "token exists")
		}
		return err
	})
	if err != nil {
		return 0, wrap(err, "create token for "+username)
	}
	return id, nil
}

// UserByTokenHash returns the enabled account a live personal token
// belongs to, read from the database. It writes last_used at most once a
// minute per token, and does not fail a request for it.
func (d *DB) UserByTokenHash(hash string) (jagadesa.User, bool) {
	ctx, cancel := background()
	defer cancel()
	var id int64
	var used *int64
	u, err := scanUser(d.pool.QueryRow(ctx, `SELECT `+userCols+`, t.id, t.last_used FROM user_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND NOT u.disabled`, hash), &id, &used)
	if err != nil {
		return jagadesa.User{}, false
	}
	now := d.now().UnixMilli()
	if used == nil || now-*used >= metastore.TouchEvery.Milliseconds() {
		// best effort: only a hint for its owner
		d.pool.Exec(ctx, `UPDATE user_tokens SET last_used = $1 WHERE id = $2 AND (last_used IS NULL OR last_used < $3)`, now, id, now-metastore.TouchEvery.Milliseconds())
	}
	return u, true
}

// RevokeUserToken revokes one live token of an account.
func (d *DB) RevokeUserToken(ctx context.Context, username string, id int64) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	tag, err := d.pool.Exec(ctx, `UPDATE user_tokens SET revoked_at = $1
		WHERE id = $2 AND revoked_at IS NULL AND user_id = (SELECT id FROM users WHERE username = $3)`, d.now().UnixMilli(), id, username)
	if err != nil {
		return fmt.Errorf("postgres: revoke token %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return jagadesa.Errorf(jagadesa.ENotFound, "user %q has no live token %d", username, id)
	}
	return nil
}

// UserTokens lists an account's tokens, revoked ones too, newest first.
func (d *DB) UserTokens(ctx context.Context, username string) ([]metastore.TokenInfo, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	var uid int64
	err := d.pool.QueryRow(ctx, `SELECT id FROM users WHERE username = $1`, username).Scan(&uid)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, noUser(username)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: tokens of %s: %w", username, err)
	}
	rows, err := d.pool.Query(ctx, `SELECT id, name, created_at, last_used, revoked_at FROM user_tokens WHERE user_id = $1 ORDER BY id DESC`, uid)
	if err != nil {
		return nil, fmt.Errorf("postgres: tokens of %s: %w", username, err)
	}
	defer rows.Close()
	out := []metastore.TokenInfo{}
	for rows.Next() {
		var t metastore.TokenInfo
		var created int64
		var used, revoked *int64
		if err := rows.Scan(&t.ID, &t.Name, &created, &used, &revoked); err != nil {
			return nil, fmt.Errorf("postgres: tokens of %s: %w", username, err)
		}
		t.CreatedAt, t.LastUsed, t.RevokedAt = ms(created), optTime(used), optTime(revoked)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: tokens of %s: %w", username, err)
	}
	return out, nil
}

// CreateSession stores a session of an enabled account, valid until
// now+absolute at the latest. The account's row is share-locked, so a
// SetPassword or DisableUser on another replica ends this session too.
func (d *DB) CreateSession(ctx context.Context, idHash string, userID int64, now time.Time, absolute time.Duration, addr, ua string) error {
	if idHash == "" || absolute <= 0 {
		return jagadesa.Errorf(jagadesa.EInvalid, "a session needs an id hash and a positive lifetime")
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	t := now.UnixMilli()
	tag, err := d.pool.Exec(ctx, `INSERT INTO sessions(id_hash, user_id, created_at, last_seen, expires_at, address, user_agent)
		SELECT $1, id, $2, $2, $3, $4, $5 FROM users WHERE id = $6 AND NOT disabled FOR SHARE`,
		idHash, t, now.Add(absolute).UnixMilli(), metastore.Clip(addr, metastore.MaxAddress), metastore.Clip(ua, maxUserAgent), userID)
	if isUnique(err) {
		return jagadesa.Errorf(jagadesa.EConflict, "session exists")
	}
	if err != nil {
		return fmt.Errorf("postgres: create session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		var disabled bool
		err := d.pool.QueryRow(ctx, `SELECT disabled FROM users WHERE id = $1`, userID).Scan(&disabled)
		if err == nil && disabled {
			return jagadesa.Errorf(jagadesa.EConflict, "user %d is disabled", userID)
		}
		return jagadesa.Errorf(jagadesa.ENotFound, "no user %d", userID)
	}
	return nil
}

// Session returns the account a session belongs to; false when the
// session is unknown, past its absolute expiry, idle for longer than idle
// (0: no limit), or its account is disabled. An expired session is
// deleted; a live one's last_seen moves at most once a minute.
func (d *DB) Session(ctx context.Context, idHash string, now time.Time, idle time.Duration) (jagadesa.User, bool, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	var lastSeen, expires int64
	u, err := scanUser(d.pool.QueryRow(ctx, `SELECT `+userCols+`, s.last_seen, s.expires_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1`, idHash), &lastSeen, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return jagadesa.User{}, false, nil
	}
	if err != nil {
		return jagadesa.User{}, false, fmt.Errorf("postgres: session: %w", err)
	}
	t := now.UnixMilli()
	if !metastore.SessionLive(u.Disabled, t, expires, lastSeen, idle) {
		if err := d.EndSession(ctx, idHash); err != nil {
			return jagadesa.User{}, false, err
		}
		return jagadesa.User{}, false, nil
	}
	if t-lastSeen >= metastore.TouchEvery.Milliseconds() {
		if _, err := d.pool.Exec(ctx, `UPDATE sessions SET last_seen = $1 WHERE id_hash = $2 AND last_seen < $1`, t, idHash); err != nil {
			return jagadesa.User{}, false, fmt.Errorf("postgres: touch session: %w", err)
		}
	}
	return u, true, nil
}

// EndSession signs one session out; an unknown session is no error.
func (d *DB) EndSession(ctx context.Context, idHash string) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	if _, err := d.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("postgres: end session: %w", err)
	}
	return nil
}

// EndUserSessions signs an account out everywhere.
func (d *DB) EndUserSessions(ctx context.Context, userID int64) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	if _, err := d.pool.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("postgres: end sessions of user %d: %w", userID, err)
	}
	return nil
}

// PruneSessions deletes the sessions past their absolute expiry and says
// how many.
func (d *DB) PruneSessions(ctx context.Context, now time.Time) (int, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	tag, err := d.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("postgres: prune sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

package federation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, as server/sqlite uses

	"github.com/jagadesa/jagadesa"
)

// Store is the national server's own record of what the provinces sent:
// <data-dir>/federation.db, apart from the server's metadata. Every batch
// is applied in one transaction, with its replay mark, and synced before
// the province gets its answer.
type Store struct {
	db *sql.DB
}

var storeSchema = []string{
	`CREATE TABLE IF NOT EXISTS fed_marks (
		province TEXT NOT NULL,
		stream   TEXT NOT NULL,
		seq      INTEGER NOT NULL,
		PRIMARY KEY (province, stream)
	)`,
	`CREATE TABLE IF NOT EXISTS fed_provinces (
		province   TEXT PRIMARY KEY,
		key_id     TEXT NOT NULL,
		stream     TEXT NOT NULL,
		last_seq   INTEGER NOT NULL,
		heard_at   INTEGER NOT NULL,
		sent_at    INTEGER NOT NULL,
		backlog    INTEGER NOT NULL,
		dropped    INTEGER NOT NULL,
		lag_ms     INTEGER NOT NULL,
		items      INTEGER NOT NULL,
		rejected   INTEGER NOT NULL,
		duplicates INTEGER NOT NULL,
		missing    INTEGER NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS fed_villages (
		village  TEXT PRIMARY KEY,
		province TEXT NOT NULL,
		status   TEXT NOT NULL,
		since    INTEGER NOT NULL,
		cause    TEXT NOT NULL,
		at       INTEGER NOT NULL,
		received INTEGER NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS fed_villages_province ON fed_villages(province)`,
	`CREATE TABLE IF NOT EXISTS fed_incidents (
		province    TEXT NOT NULL,
		id          TEXT NOT NULL,
		village     TEXT NOT NULL,
		villages    TEXT NOT NULL,
		kind        TEXT NOT NULL,
		severity    TEXT NOT NULL,
		state       TEXT NOT NULL,
		title       TEXT NOT NULL,
		team        TEXT NOT NULL,
		opened_at   INTEGER NOT NULL,
		acked_at    INTEGER,
		resolved_at INTEGER,
		evidence    TEXT,
		at          INTEGER NOT NULL,
		received    INTEGER NOT NULL,
		PRIMARY KEY (province, id)
	)`,
	`CREATE INDEX IF NOT EXISTS fed_incidents_state ON fed_incidents(state, opened_at)`,
	`CREATE TABLE IF NOT EXISTS fed_months (
		kind     TEXT NOT NULL,
		village  TEXT NOT NULL,
		month    TEXT NOT NULL,
		province TEXT NOT NULL,
		numbers  TEXT NOT NULL,
		texts    TEXT NOT NULL,
		at       INTEGER NOT NULL,
		PRIMARY KEY (kind, village, month)
	)`,
	`CREATE INDEX IF NOT EXISTS fed_months_province ON fed_months(province, kind, month)`,
}

// OpenStore opens (creating if needed) dir/federation.db.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("federation: data dir: %w", err)
	}
	path := filepath.Join(dir, "federation.db")
	// synchronous(FULL): a batch is on disk before its 200, so a power cut
	// after the answer loses nothing the province has already deleted.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(FULL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("federation: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; a batch's mark check and writes are one transaction
	for _, q := range storeSchema {
		if _, err := db.Exec(q); err != nil {
			db.Close()
			return nil, fmt.Errorf("federation: schema of %s: %w", path, err)
		}
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// receipt is what applying a batch did.
type receipt struct {
	acceptedTo uint64
	stored     int
	duplicates int
	missing    uint64 // numbers skipped along a stream already heard from
	rejected   []Rejected
}

// Rejected is an item the national server refused, with why. The province
// logs it; the mark moves past it all the same, so one bad item cannot
// stall the stream.
type Rejected struct {
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func nullMs(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

// apply stores a batch whose header has been checked: items at or below
// the stream's mark are duplicates and change nothing; the others are
// judged one by one and stored; the mark moves to the batch's last number.
func (s *Store) apply(ctx context.Context, b *Batch, now time.Time) (receipt, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return receipt{}, err
	}
	defer tx.Rollback()
	var mark uint64
	err = tx.QueryRowContext(ctx, `SELECT seq FROM fed_marks WHERE province = ? AND stream = ?`, b.Province, b.Stream).Scan(&mark)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return receipt{}, err
	}
	r := receipt{acceptedTo: mark}
	for i := range b.Items {
		it := &b.Items[i]
		if it.Seq <= mark {
			r.duplicates++
			continue
		}
		if r.acceptedTo > 0 && it.Seq > r.acceptedTo+1 {
			// Numbers never sent: the province's spool lost them (a
			// crash between a reservation and its records, or space).
			r.missing += it.Seq - r.acceptedTo - 1
		}
		r.acceptedTo = it.Seq
		if err := it.check(b.Province, now); err != nil {
			r.rejected = append(r.rejected, Rejected{Seq: it.Seq, Reason: err.Error()})
			continue
		}
		if err := storeItem(ctx, tx, b.Province, it, now); err != nil {
			return receipt{}, fmt.Errorf("item %d: %w", it.Seq, err)
		}
		r.stored++
	}
	if r.acceptedTo > mark {
		if _, err := tx.ExecContext(ctx, `INSERT INTO fed_marks(province, stream, seq) VALUES(?,?,?)
			ON CONFLICT(province, stream) DO UPDATE SET seq = excluded.seq`, b.Province, b.Stream, r.acceptedTo); err != nil {
			return receipt{}, err
		}
	}
	lag := int64(0)
	if len(b.Items) > 0 {
		lag = max(0, now.Sub(b.Items[0].At).Milliseconds())
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO fed_provinces(province, key_id, stream, last_seq, heard_at, sent_at, backlog, dropped, lag_ms, items, rejected, duplicates, missing)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(province) DO UPDATE SET key_id = excluded.key_id, stream = excluded.stream, last_seq = excluded.last_seq,
			heard_at = excluded.heard_at, sent_at = excluded.sent_at, backlog = excluded.backlog, dropped = excluded.dropped,
			lag_ms = excluded.lag_ms, items = items + excluded.items, rejected = rejected + excluded.rejected,
			duplicates = duplicates + excluded.duplicates, missing = missing + excluded.missing`,
		b.Province, b.KeyID, b.Stream, r.acceptedTo, ms(now), ms(b.SentAt), max(0, b.Backlog-int64(len(b.Items))), b.Dropped, lag,
		r.stored, len(r.rejected), r.duplicates, r.missing); err != nil {
		return receipt{}, err
	}
	return r, tx.Commit()
}

// storeItem writes one item. A fact older than what is stored (a new
// stream replaying an old one's backlog) does not overwrite a newer one.
func storeItem(ctx context.Context, tx *sql.Tx, province string, it *Item, now time.Time) error {
	var err error
	switch it.Kind {
	case KindVillageStatus:
		v := it.VillageStatus
		_, err = tx.ExecContext(ctx, `INSERT INTO fed_villages(village, province, status, since, cause, at, received) VALUES(?,?,?,?,?,?,?)
			ON CONFLICT(village) DO UPDATE SET status = excluded.status, since = excluded.since, cause = excluded.cause,
				at = excluded.at, received = excluded.received WHERE excluded.at >= fed_villages.at`,
			v.Village, province, string(v.Status), ms(v.Since), v.Cause, ms(it.At), ms(now))
	case KindIncident:
		in := it.Incident
		vs, _ := json.Marshal(struct {
			List  []string `json:"list,omitempty"`
			Total int      `json:"total,omitempty"`
		}{in.Villages, in.VillagesTotal})
		var ev any
		if len(in.Evidence) > 0 {
			ev = string(in.Evidence)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO fed_incidents(province, id, village, villages, kind, severity, state, title, team, opened_at, acked_at, resolved_at, evidence, at, received)
			VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
			ON CONFLICT(province, id) DO UPDATE SET village = excluded.village, villages = excluded.villages, kind = excluded.kind,
				severity = excluded.severity, state = excluded.state, title = excluded.title, team = excluded.team,
				opened_at = excluded.opened_at, acked_at = excluded.acked_at, resolved_at = excluded.resolved_at,
				evidence = excluded.evidence, at = excluded.at, received = excluded.received WHERE excluded.at >= fed_incidents.at`,
			province, in.ID, in.Village, string(vs), string(in.Kind), string(in.Severity), string(in.State), in.Title, in.Team,
			ms(in.OpenedAt), nullMs(in.AckedAt), nullMs(in.ResolvedAt), ev, ms(it.At), ms(now))
	case KindSLAMonth, KindReadinessMonth:
		m := it.Month
		nums, _ := json.Marshal(m.Numbers)
		texts, _ := json.Marshal(m.Texts)
		_, err = tx.ExecContext(ctx, `INSERT INTO fed_months(kind, village, month, province, numbers, texts, at) VALUES(?,?,?,?,?,?,?)
			ON CONFLICT(kind, village, month) DO UPDATE SET numbers = excluded.numbers, texts = excluded.texts, at = excluded.at
			WHERE excluded.at >= fed_months.at`,
			it.Kind, m.Village, m.Month, province, string(nums), string(texts), ms(it.At))
	}
	return err
}

// Mark is the highest item number stored for a province's stream.
func (s *Store) Mark(ctx context.Context, province, stream string) (uint64, error) {
	var m uint64
	err := s.db.QueryRowContext(ctx, `SELECT seq FROM fed_marks WHERE province = ? AND stream = ?`, province, stream).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return m, err
}

// NationalVillage is a village's latest status as its province said.
type NationalVillage struct {
	Village  string          `json:"village"`
	Province string          `json:"province"`
	Status   jagadesa.Status `json:"status"`
	Since    time.Time       `json:"since"`
	Cause    string          `json:"cause,omitempty"`
	At       time.Time       `json:"at"`       // when the province recorded the change
	Received time.Time       `json:"received"` // when it reached this server
}

// VillageFilter selects villages; zero fields match everything.
type VillageFilter struct {
	Province string
	Status   jagadesa.Status
}

// Villages returns the latest status of every village heard of that the
// filter selects, ordered by code.
func (s *Store) Villages(ctx context.Context, f VillageFilter) ([]NationalVillage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT village, province, status, since, cause, at, received FROM fed_villages
		WHERE (? = '' OR province = ?) AND (? = '' OR status = ?) ORDER BY village`, f.Province, f.Province, string(f.Status), string(f.Status))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []NationalVillage{}
	for rows.Next() {
		var v NationalVillage
		var since, at, rec int64
		if err := rows.Scan(&v.Village, &v.Province, &v.Status, &since, &v.Cause, &at, &rec); err != nil {
			return nil, err
		}
		v.Since, v.At, v.Received = time.UnixMilli(since).UTC(), time.UnixMilli(at).UTC(), time.UnixMilli(rec).UTC()
		out = append(out, v)
	}
	return out, rows.Err()
}

// NationalIncident is an incident summary as its province last sent it.
type NationalIncident struct {
	Province string `json:"province"`
	Incident
	At       time.Time `json:"at"`
	Received time.Time `json:"received"`
}

// IncidentFilter selects incidents; zero fields match everything.
type IncidentFilter struct {
	Province string
	State    jagadesa.IncidentState
	Limit    int // default and at most 1000
}

// Incidents returns incident summaries, newest opened first.
func (s *Store) Incidents(ctx context.Context, f IncidentFilter) ([]NationalIncident, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 1000
	}
	rows, err := s.db.QueryContext(ctx, `SELECT province, id, village, villages, kind, severity, state, title, team, opened_at, acked_at, resolved_at, evidence, at, received
		FROM fed_incidents WHERE (? = '' OR province = ?) AND (? = '' OR state = ?) ORDER BY opened_at DESC, province, id LIMIT ?`,
		f.Province, f.Province, string(f.State), string(f.State), f.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []NationalIncident{}
	for rows.Next() {
		var n NationalIncident
		var vs string
		var opened, at, rec int64
		var acked, resolved sql.NullInt64
		var ev sql.NullString
		if err := rows.Scan(&n.Province, &n.ID, &n.Village, &vs, &n.Kind, &n.Severity, &n.State, &n.Title, &n.Team,
			&opened, &acked, &resolved, &ev, &at, &rec); err != nil {
			return nil, err
		}
		var list struct {
			List  []string `json:"list"`
			Total int      `json:"total"`
		}
		_ = json.Unmarshal([]byte(vs), &list)
		n.Villages, n.VillagesTotal = list.List, list.Total
		n.OpenedAt, n.At, n.Received = time.UnixMilli(opened).UTC(), time.UnixMilli(at).UTC(), time.UnixMilli(rec).UTC()
		if acked.Valid {
			t := time.UnixMilli(acked.Int64).UTC()
			n.AckedAt = &t
		}
		if resolved.Valid {
			t := time.UnixMilli(resolved.Int64).UTC()
			n.ResolvedAt = &t
		}
		if ev.Valid {
			n.Evidence = json.RawMessage(ev.String)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// NationalMonth is one village's monthly figures.
type NationalMonth struct {
	Province string `json:"province"`
	Kind     string `json:"kind"`
	Month
	At time.Time `json:"at"`
}

// Months returns the figures of one kind and month, of one province or
// ("") all, ordered by village.
func (s *Store) Months(ctx context.Context, kind, month, province string) ([]NationalMonth, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT province, kind, village, month, numbers, texts, at FROM fed_months
		WHERE kind = ? AND month = ? AND (? = '' OR province = ?) ORDER BY village`, kind, month, province, province)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []NationalMonth{}
	for rows.Next() {
		var m NationalMonth
		var nums, texts string
		var at int64
		if err := rows.Scan(&m.Province, &m.Kind, &m.Village, &m.Month.Month, &nums, &texts, &at); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(nums), &m.Numbers)
		_ = json.Unmarshal([]byte(texts), &m.Texts)
		m.At = time.UnixMilli(at).UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

// ProvinceState is what the national server knows of one province's
// stream: when it was last heard from, how far behind it is, and what
// it holds.
type ProvinceState struct {
	Province  string    `json:"province"`
	KeyID     string    `json:"key_id"`
	Heard     bool      `json:"heard"` // false: registered, never heard from
	HeardAt   time.Time `json:"heard_at"`
	SentAt    time.Time `json:"sent_at"`
	Stream    string    `json:"stream,omitempty"`
	LastSeq   uint64    `json:"last_seq"`
	Backlog   int64     `json:"backlog"` // items still waiting at the province after its last batch
	Dropped   uint64    `json:"dropped"` // items its spool ever lost for space
	LagS      float64   `json:"lag_s"`   // age of the oldest item of its last batch when it arrived
	Items     int64     `json:"items"`
	Rejected  int64     `json:"rejected"`
	Duplicate int64     `json:"duplicates"`
	// Missing counts item numbers skipped along a stream: items the
	// province numbered but never sent. Zero when nothing was lost.
	Missing uint64 `json:"missing"`
	// Villages counts its villages by latest status; OpenIncidents its
	// incidents not yet resolved.
	Villages      map[jagadesa.Status]int `json:"villages"`
	OpenIncidents int                     `json:"open_incidents"`
	// Registered: its key is in --federation-peers. Offline: not heard
	// from within National.OfflineAfter (or never); SilentS for how long.
	Registered bool    `json:"registered"`
	Offline    bool    `json:"offline"`
	SilentS    float64 `json:"silent_s"`
}

// Provinces returns the state of every province heard from, ordered by code.
func (s *Store) Provinces(ctx context.Context) ([]ProvinceState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT province, key_id, stream, last_seq, heard_at, sent_at, backlog, dropped, lag_ms, items, rejected, duplicates, missing FROM fed_provinces`)
	if err != nil {
		return nil, err
	}
	byCode := map[string]*ProvinceState{}
	for rows.Next() {
		p := &ProvinceState{Heard: true, Villages: map[jagadesa.Status]int{}}
		var heard, sent, lag int64
		if err := rows.Scan(&p.Province, &p.KeyID, &p.Stream, &p.LastSeq, &heard, &sent, &p.Backlog, &p.Dropped, &lag, &p.Items, &p.Rejected, &p.Duplicate, &p.Missing); err != nil {
			rows.Close()
			return nil, err
		}
		p.HeardAt, p.SentAt, p.LagS = time.UnixMilli(heard).UTC(), time.UnixMilli(sent).UTC(), float64(lag)/1000
		byCode[p.Province] = p
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	get := func(code string) *ProvinceState {
		p := byCode[code]
		if p == nil {
			p = &ProvinceState{Province: code, Villages: map[jagadesa.Status]int{}}
			byCode[code] = p
		}
		return p
	}
	counts, err := s.db.QueryContext(ctx, `SELECT province, status, COUNT(*) FROM fed_villages GROUP BY province, status`)
	if err != nil {
		return nil, err
	}
	for counts.Next() {
		var code, st string
		var n int
		if err := counts.Scan(&code, &st, &n); err != nil {
			counts.Close()
			return nil, err
		}
		get(code).Villages[jagadesa.Status(st)] = n
	}
	counts.Close()
	open, err := s.db.QueryContext(ctx, `SELECT province, COUNT(*) FROM fed_incidents WHERE state != 'resolved' GROUP BY province`)
	if err != nil {
		return nil, err
	}
	for open.Next() {
		var code string
		var n int
		if err := open.Scan(&code, &n); err != nil {
			open.Close()
			return nil, err
		}
		get(code).OpenIncidents = n
	}
	open.Close()
	out := make([]ProvinceState, 0, len(byCode))
	for _, p := range byCode {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Province < out[j].Province })
	return out, nil
}

// National is the national server's side as jagadesa serve uses it: the
// receiver for the provinces' batches and the read-only national view.
type National struct {
	*Receiver
	*Store
	// OfflineAfter is how long a province may be silent before the view
	// calls it offline (default 10 min: a forwarder idles for at most
	// its poll, 30 s, and a status change somewhere comes every minute).
	OfflineAfter time.Duration
}

// Provinces is Store.Provinces with every registered province, heard from
// or not, and whether each is offline now.
func (n *National) Provinces(ctx context.Context) ([]ProvinceState, error) {
	ps, err := n.Store.Provinces(ctx)
	if err != nil {
		return nil, err
	}
	after := n.OfflineAfter
	if after <= 0 {
		after = 10 * time.Minute
	}
	now := n.Receiver.now()
	peers := n.Receiver.Peers()
	seen := map[string]bool{}
	for i := range ps {
		p := &ps[i]
		seen[p.Province] = true
		_, p.Registered = peers[p.Province]
		p.Offline = !p.Heard || now.Sub(p.HeardAt) > after
		if p.Heard {
			p.SilentS = max(0, now.Sub(p.HeardAt).Seconds())
		}
	}
	for code, kid := range peers {
		if !seen[code] {
			ps = append(ps, ProvinceState{Province: code, KeyID: kid, Registered: true, Offline: true, Villages: map[jagadesa.Status]int{}})
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Province < ps[j].Province })
	return ps, nil
}

// MonthSummary is one province's figures of a month: how many villages
// sent them, the mean of each number over those that have it, and how
// many villages have each text value (e.g. "status=below": 12).
type MonthSummary struct {
	Villages int                `json:"villages"`
	Mean     map[string]float64 `json:"mean"`
	Counts   map[string]int     `json:"counts"`
}

// Summarize sums up monthly figures per province.
func Summarize(rows []NationalMonth) map[string]MonthSummary {
	type acc struct {
		n      int
		sum    map[string]float64
		cnt    map[string]int
		counts map[string]int
	}
	by := map[string]*acc{}
	for _, r := range rows {
		a := by[r.Province]
		if a == nil {
			a = &acc{sum: map[string]float64{}, cnt: map[string]int{}, counts: map[string]int{}}
			by[r.Province] = a
		}
		a.n++
		for k, v := range r.Numbers {
			a.sum[k] += v
			a.cnt[k]++
		}
		for k, v := range r.Texts {
			a.counts[k+"="+v]++
		}
	}
	out := make(map[string]MonthSummary, len(by))
	for p, a := range by {
		s := MonthSummary{Villages: a.n, Mean: map[string]float64{}, Counts: a.counts}
		for k, v := range a.sum {
			s.Mean[k] = v / float64(a.cnt[k])
		}
		out[p] = s
	}
	return out
}

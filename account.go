package jagadesa

import (
	"fmt"
	"time"
)

// Role is what a staff account may do; its jurisdiction (a province or a
// regency) says where.
type Role string

// The roles. A regency that gets its own CSIRT later is a change in the
// CSIRT directory, not in anyone's role.
const (
	RoleProvinceAdmin   Role = "province-admin"   // users, probes, the CSIRT directory, every village of the province
	RoleProvinceAnalyst Role = "province-analyst" // every incident and village of the province
	RoleRegencyAnalyst  Role = "regency-analyst"  // one regency's villages, incidents, history, tiles, reports, exports
	RoleViewer          Role = "viewer"           // Diskominfo: read-only maps and reports, no security evidence
	RoleTechnician      Role = "technician"       // enrolls and replaces probes in one regency; sees only its villages
)

// ParseRole accepts the CLI and API spelling of a role.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleProvinceAdmin, RoleProvinceAnalyst, RoleRegencyAnalyst, RoleViewer, RoleTechnician:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want province-admin, province-analyst, regency-analyst, viewer or technician)", s)
}

// Regional reports whether the role is always bound to one regency rather
// than a whole province. A viewer may be either (User.Regency decides).
func (r Role) Regional() bool { return r == RoleRegencyAnalyst || r == RoleTechnician }

// User is a person's staff account. Its secrets (password hash, tokens)
// never leave the metadata store.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Role     Role   `json:"role"`
	// Province is the two-digit Kemendagri code (33 Jawa Tengah, 15 Jambi);
	// Regency the NN.NN code: required for the regional roles, optional
	// for a viewer (a regency's Diskominfo), absent otherwise.
	Province  string     `json:"province"`
	Regency   string     `json:"regency,omitempty"`
	Disabled  bool       `json:"disabled"`
	CreatedAt time.Time  `json:"created_at"`
	LastLogin *time.Time `json:"last_login,omitempty"`
}

// Validate checks the account's shape: a username of 3 to 64 of
// [a-z0-9._-], a role, a province code, and a regency code inside that
// province exactly when the role is regional.
func (u *User) Validate() Problems {
	p := Problems{}
	if len(u.Username) < 3 || len(u.Username) > 64 || !usernameChars(u.Username) {
		p.add("username", "3 to 64 characters of a-z, 0-9, '.', '_' and '-'")
	}
	if _, err := ParseRole(string(u.Role)); err != nil {
		p.add("role", "%v", err)
	}
	if !digits(u.Province, 2) {
		p.add("province", "a two-digit province code such as 33")
	}
	switch {
	case u.Role.Regional() && (len(u.Regency) != 5 || !digits(u.Regency[:2], 2) || u.Regency[2] != '.' || !digits(u.Regency[3:], 2) || u.Regency[:2] != u.Province):
		p.add("regency", "a regency code such as 33.06, inside the account's province, is required for %s", u.Role)
	case !u.Role.Regional() && u.Regency != "" && (u.Role != RoleViewer || len(u.Regency) != 5 || !digits(u.Regency[:2], 2) || u.Regency[2] != '.' || !digits(u.Regency[3:], 2) || u.Regency[:2] != u.Province):
		// A viewer may be a regency's Diskominfo (NN.NN) or the province's.
		p.add("regency", "only regency-analyst, technician and viewer accounts have a regency, inside the account's province")
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

func usernameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func digits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

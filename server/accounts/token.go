package accounts

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/jagadesa/jagadesa"
)

// Token prefixes. A prefix says what a secret is when it turns up in a log,
// a paste or a secret scanner's alert, and lets the server tell a person's
// token from a probe's before looking anything up.
const (
	PrefixUserToken = "jdu_" // a person's API token
	PrefixSession   = "jds_" // a browser session id
)

const tokenBytes = 32 // 256 bits: beyond guessing, so a plain SHA-256 suffices to store it

// tokenLen is the length of a token's random part: 32 bytes in unpadded
// base64url.
var tokenLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

// NewToken returns a new secret, prefix followed by 32 random bytes in
// unpadded base64url, and the hash to store in its place. The token is
// shown once and never stored.
func NewToken(prefix string) (token, hash string) {
	var b [tokenBytes]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken is the hex SHA-256 of the whole token, prefix included: what
// the store keeps and looks tokens up by. A salt or a slow hash would add
// nothing for 256 random bits, and a lookup by hash leaks no timing about
// the token itself.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// WellFormedToken reports whether token has the shape NewToken(prefix)
// gives, so a mistyped or foreign credential is refused without a lookup.
func WellFormedToken(token, prefix string) bool {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok || len(rest) != tokenLen {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Enrollment codes are what a field technician types on a router's or a
// phone's keyboard to enroll a probe, so they trade length for ease:
//
//   - 10 characters from 31 symbols (2-9 and A-Z without I, L and O; the
//     digits 0 and 1 are left out too), so nothing reads as something else;
//     case and dashes do not matter on input.
//   - 10 × log2(31) ≈ 49.5 bits. That is enough because a code is
//     single-use, expires, is bound to one village and is only accepted at
//     a rate-limited endpoint: at even 1,000 guesses a second against 1,000
//     live codes, a hit takes about 24 years on average. It is not enough
//     to resist an offline search of a leaked hash (2^49.5 SHA-256 is hours
//     on a GPU), which is why codes must expire within days.
//   - shown as XXXX-XXXX-XX, grouped for reading aloud over a phone.
const (
	enrollAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
	enrollLen      = 10
)

// NewEnrollCode returns a new enrollment code for display (K7QX-9M2P-WD)
// and the hash to store: HashEnrollCode of the code.
func NewEnrollCode() (code, hash string) {
	var c [enrollLen]byte
	var buf [32]byte
	n := 0
	for n < enrollLen {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand, Go 1.24+)
		for _, b := range buf {
			// Rejection sampling: 248 = 8×31, so b%31 is uniform below it.
			if b >= 248 || n == enrollLen {
				continue
			}
			c[n] = enrollAlphabet[b%31]
			n++
		}
	}
	s := string(c[:])
	return s[:4] + "-" + s[4:8] + "-" + s[8:], hashEnroll(s)
}

// NormalizeEnrollCode turns what a person typed into the canonical code:
// dashes and spaces removed, letters upper-cased. It refuses a code of the
// wrong length or with a character no code contains, with an EInvalid
// error that does not repeat the code (it is a secret).
func NormalizeEnrollCode(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == ' ' || c == '\t':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		if strings.IndexByte(enrollAlphabet, c) < 0 {
			if strings.IndexByte("01IOL", c) >= 0 {
				return "", jagadesa.Errorf(jagadesa.EInvalid, "an enrollment code never contains %q (codes leave out 0, 1, I, L and O); check the code", c)
			}
			return "", jagadesa.Errorf(jagadesa.EInvalid, "an enrollment code has only letters and digits, grouped like K7QX-9M2P-WD")
		}
		if b.Len() == enrollLen {
			return "", jagadesa.Errorf(jagadesa.EInvalid, "an enrollment code has %d letters and digits", enrollLen)
		}
		b.WriteByte(c)
	}
	if b.Len() != enrollLen {
		return "", jagadesa.Errorf(jagadesa.EInvalid, "an enrollment code has %d letters and digits", enrollLen)
	}
	return b.String(), nil
}

// HashEnrollCode normalises what a person typed and returns the hash to
// look the code up by: the hex SHA-256 of the canonical code.
func HashEnrollCode(typed string) (string, error) {
	c, err := NormalizeEnrollCode(typed)
	if err != nil {
		return "", err
	}
	return hashEnroll(c), nil
}

func hashEnroll(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return hex.EncodeToString(sum[:])
}

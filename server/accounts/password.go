package accounts

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/jagadesa/jagadesa"
)

// The argon2id parameters new hashes get. They are RFC 9106's second
// recommended option (t=3, 64 MiB) with two lanes instead of four, because
// the server has two cores: four lanes would only add scheduling, not
// cost to an attacker. OWASP's cheapest argon2id profile (19 MiB, t=2, p=1)
// is the floor; this costs about three times its memory. On the
// development machine (2 cores of an AMD EPYC) one hash takes about 80 ms
// when the machine is otherwise quiet and about 120 ms while other builds
// run (TestPasswordHashCost, BenchmarkVerifyPassword): inside the ~100 ms a
// login may cost. t=2 would take 50 ms (BenchmarkArgon2Params) if the
// server turns out slower. Changing them needs no migration:
// VerifyPassword reads each hash's own parameters and reports needsRehash.
const (
	argonMemory  = 64 * 1024 // KiB
	argonTime    = 3
	argonThreads = 2
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Bounds on a stored hash's parameters. The store is trusted less than the
// code: a tampered row asking for 4 GiB or a million passes would turn
// every login into a denial of service, and argon2 panics on zero passes
// or lanes, so anything outside these is refused before hashing.
const (
	maxArgonMemory  = 1024 * 1024 // KiB: 1 GiB
	maxArgonTime    = 10
	maxArgonThreads = 16
	minArgonSaltLen = 8
	maxArgonSaltLen = 64
	minArgonKeyLen  = 16
	maxArgonKeyLen  = 64
)

// Password length limits, in the sense of NIST SP 800-63B: length is
// what makes a password strong, composition rules are not required.
const (
	MinPasswordChars = 12   // counted in characters (runes), not bytes
	MaxPasswordBytes = 1024 // long enough for any passphrase, short enough to hash cheaply
)

// maxConcurrentHashes bounds the memory password hashing can take:
// each hash holds argonMemory, so four at once is 256 MiB however many
// logins arrive together. Callers beyond it wait their turn; the server's
// login rate limit keeps that queue short.
const maxConcurrentHashes = 4

var hashSlots = make(chan struct{}, maxConcurrentHashes)

// ErrBadHash is returned (wrapped, with the reason) for a stored password
// hash that is malformed, of another algorithm, or with parameters out of
// bounds. It means the store is damaged or tampered with, not that the
// password is wrong.
var ErrBadHash = errors.New("malformed or unsupported password hash")

type argonParams struct {
	memory  uint32
	time    uint32
	threads uint8
}

var currentParams = argonParams{memory: argonMemory, time: argonTime, threads: argonThreads}

func idKey(pw string, salt []byte, p argonParams, keyLen uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, keyLen)
}

// HashPassword hashes pw with argon2id and a fresh random salt, in the PHC
// string format: $argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>, salt and
// hash in unpadded standard base64. It does not apply the password policy;
// call CheckPassword first when a person chooses the password.
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("empty password")
	}
	if len(pw) > MaxPasswordBytes {
		return "", fmt.Errorf("password longer than %d bytes", MaxPasswordBytes)
	}
	salt := make([]byte, argonSaltLen)
	_, _ = rand.Read(salt) // never fails (crypto/rand, Go 1.24+)
	key := idKey(pw, salt, currentParams, argonKeyLen)
	return encodeHash(currentParams, salt, key), nil
}

func encodeHash(p argonParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// VerifyPassword reports whether pw matches the encoded hash, comparing in
// constant time. needsRehash is true when the password matched but the hash
// was made with other parameters than HashPassword uses now: the caller
// should then store HashPassword(pw) while it has the password in hand.
// A wrong password is ok=false with a nil error; err (wrapping ErrBadHash)
// is kept for a hash that cannot be used at all.
func VerifyPassword(encoded, pw string) (ok, needsRehash bool, err error) {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, false, err
	}
	if len(pw) > MaxPasswordBytes {
		// No stored password can be this long; hashing it would only
		// cost time.
		return false, false, nil
	}
	got := idKey(pw, salt, p, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	rehash := p != currentParams || len(salt) != argonSaltLen || len(want) != argonKeyLen
	return true, rehash, nil
}

// dummySalt only feeds DummyVerify; no stored hash uses it.
var dummySalt = make([]byte, argonSaltLen)

// DummyVerify spends the time VerifyPassword would on pw. A login for a
// username that does not exist (or has no password) calls it, so the
// answer's timing does not tell which usernames exist.
func DummyVerify(pw string) {
	if len(pw) > MaxPasswordBytes {
		return
	}
	idKey(pw, dummySalt, currentParams, argonKeyLen)
}

func decodeHash(s string) (p argonParams, salt, key []byte, err error) {
	bad := func(format string, args ...any) (argonParams, []byte, []byte, error) {
		return argonParams{}, nil, nil, fmt.Errorf("%w: %s", ErrBadHash, fmt.Sprintf(format, args...))
	}
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return bad("want $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	if f[1] != "argon2id" {
		return bad("algorithm %q, want argon2id", f[1])
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("version %q, want v=%d", f[2], argon2.Version)
	}
	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return bad("parameters %q, want m=…,t=…,p=…", f[3])
	}
	var v [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		num, found := strings.CutPrefix(ps[i], name+"=")
		n, perr := strconv.ParseUint(num, 10, 32)
		// One spelling per number: no sign, no leading zeros.
		if !found || perr != nil || strconv.FormatUint(n, 10) != num {
			return bad("parameter %q, want %s=<decimal>", ps[i], name)
		}
		v[i] = n
	}
	m, t, par := v[0], v[1], v[2]
	switch {
	case par < 1 || par > maxArgonThreads:
		return bad("p=%d out of 1..%d", par, maxArgonThreads)
	case t < 1 || t > maxArgonTime:
		return bad("t=%d out of 1..%d", t, maxArgonTime)
	case m < 8*par || m > maxArgonMemory: // RFC 9106: at least 8 KiB per lane
		return bad("m=%d out of %d..%d KiB", m, 8*par, maxArgonMemory)
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err = b64.DecodeString(f[4])
	if err != nil || len(salt) < minArgonSaltLen || len(salt) > maxArgonSaltLen {
		return bad("salt must be %d to %d bytes of unpadded base64", minArgonSaltLen, maxArgonSaltLen)
	}
	key, err = b64.DecodeString(f[5])
	if err != nil || len(key) < minArgonKeyLen || len(key) > maxArgonKeyLen {
		return bad("hash must be %d to %d bytes of unpadded base64", minArgonKeyLen, maxArgonKeyLen)
	}
	return argonParams{memory: uint32(m), time: uint32(t), threads: uint8(par)}, salt, key, nil
}

// serviceWords are context-specific words NIST SP 800-63B asks a verifier
// to refuse inside passwords, beside the username.
var serviceWords = []string{"jagadesa"}

// CheckPassword applies the password policy of NIST SP 800-63B: at least
// MinPasswordChars characters and at most MaxPasswordBytes bytes of valid
// UTF-8, not containing the username or the service's name (ignoring
// case), and not one character repeated. It deliberately demands no mix of
// character classes: length protects, composition rules only push people
// to predictable patterns. The error is an EInvalid *jagadesa.Error with
// the reason under the "password" problem.
func CheckPassword(pw, username string) error {
	reason := func() string {
		switch {
		case !utf8.ValidString(pw):
			return "must be valid UTF-8 text"
		case len(pw) > MaxPasswordBytes:
			return fmt.Sprintf("must be at most %d bytes", MaxPasswordBytes)
		case utf8.RuneCountInString(pw) < MinPasswordChars:
			return fmt.Sprintf("must be at least %d characters; a few unrelated words make a good one", MinPasswordChars)
		}
		lower := strings.ToLower(pw)
		if u := strings.ToLower(strings.TrimSpace(username)); u != "" && strings.Contains(lower, u) {
			return "must not contain the username"
		}
		for _, w := range serviceWords {
			if strings.Contains(lower, w) {
				return fmt.Sprintf("must not contain %q", w)
			}
		}
		first, _ := utf8.DecodeRuneInString(pw)
		if strings.Trim(pw, string(first)) == "" {
			return "must not be one character repeated"
		}
		return ""
	}()
	if reason == "" {
		return nil
	}
	return &jagadesa.Error{
		Code:     jagadesa.EInvalid,
		Message:  "the password " + reason,
		Problems: jagadesa.Problems{"password": reason},
	}
}

// NewPasswordHash checks a new password against the policy
// (CheckPassword) and hashes it: what every place that sets a password
// does.
func NewPasswordHash(pw, username string) (string, error) {
	if err := CheckPassword(pw, username); err != nil {
		return "", err
	}
	return HashPassword(pw)
}

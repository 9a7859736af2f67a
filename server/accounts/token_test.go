package accounts

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa"
)

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for _, prefix := range []string{PrefixUserToken, PrefixSession} {
		for i := 0; i < 100; i++ {
			tok, hash := NewToken(prefix)
			if !regexp.MustCompile(`^` + prefix + `[A-Za-z0-9_-]{43}$`).MatchString(tok) {
				t.Fatalf("token %q is not %s + 43 base64url characters", tok, prefix)
			}
			sum := sha256.Sum256([]byte(tok))
			if hash != hex.EncodeToString(sum[:]) || HashToken(tok) != hash {
				t.Fatalf("hash %s is not the hex SHA-256 of %s", hash, tok)
			}
			if seen[tok] {
				t.Fatalf("token %s repeated", tok)
			}
			seen[tok] = true
			if !WellFormedToken(tok, prefix) {
				t.Errorf("WellFormedToken(%q, %q) = false", tok, prefix)
			}
		}
	}
}

func TestWellFormedToken(t *testing.T) {
	tok, _ := NewToken(PrefixUserToken)
	for _, tc := range []struct {
		tok, prefix string
	}{
		{tok, PrefixSession}, // a person's token is no session id
		{strings.TrimPrefix(tok, "jdu_"), PrefixUserToken}, // prefix missing
		{tok[:len(tok)-1], PrefixUserToken},                // short
		{tok + "A", PrefixUserToken},                       // long
		{tok[:len(tok)-1] + "=", PrefixUserToken},          // padding or standard base64
		{tok[:len(tok)-1] + "+", PrefixUserToken},
		{"", PrefixUserToken},
	} {
		if WellFormedToken(tc.tok, tc.prefix) {
			t.Errorf("WellFormedToken(%q, %q) = true", tc.tok, tc.prefix)
		}
	}
}

func TestNewEnrollCode(t *testing.T) {
	counts := map[rune]int{}
	const n = 30000
	shape := regexp.MustCompile(`^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{2}$`)
	for i := 0; i < n; i++ {
		code, hash := NewEnrollCode()
		if !shape.MatchString(code) {
			t.Fatalf("code %q is not XXXX-XXXX-XX of the unambiguous alphabet", code)
		}
		got, err := HashEnrollCode(code)
		if err != nil || got != hash {
			t.Fatalf("HashEnrollCode(%q) = %s, %v; NewEnrollCode said %s", code, got, err, hash)
		}
		for _, r := range strings.ReplaceAll(code, "-", "") {
			counts[r]++
		}
	}
	if len(counts) != len(enrollAlphabet) {
		t.Errorf("%d distinct symbols in %d codes, want all %d", len(counts), n, len(enrollAlphabet))
	}
	// Each symbol is expected 300000/31 ≈ 9677 times, give or take ~97
	// (one standard deviation). A byte taken modulo 31 without rejection
	// would draw eight symbols 12.5% too often, twelve deviations off; the
	// ±5% allowed here is five.
	want := float64(n*enrollLen) / float64(len(enrollAlphabet))
	for r, c := range counts {
		if math.Abs(float64(c)-want) > 0.05*want {
			t.Errorf("symbol %q drawn %d times, want about %.0f", r, c, want)
		}
	}
	if bits := enrollLen * math.Log2(float64(len(enrollAlphabet))); bits < 49 {
		t.Errorf("enrollment codes carry %.1f bits, want about 50", bits)
	}
}

func TestNormalizeEnrollCode(t *testing.T) {
	for _, in := range []string{"K7QX-9M2P-WD", "k7qx-9m2p-wd", "K7QX 9M2P WD", " k7qx9m2pwd ", "K7-QX-9M-2P-WD", "K7QX\t9M2P-WD"} {
		got, err := NormalizeEnrollCode(in)
		if err != nil || got != "K7QX9M2PWD" {
			t.Errorf("NormalizeEnrollCode(%q) = %q, %v", in, got, err)
		}
	}
	for name, in := range map[string]string{
		"empty":             "",
		"short":             "K7QX-9M2P-W",
		"long":              "K7QX-9M2P-WDA",
		"letter O":          "K7QX-9M2P-WO",
		"digit 0":           "K7QX-9M2P-W0",
		"digit 1":           "K7QX-9M2P-W1",
		"letter I":          "K7QX-9M2P-Wi",
		"letter L":          "K7QX-9M2P-Wl",
		"punctuation":       "K7QX_9M2P_WD",
		"non-ASCII":         "K7QX-9M2P-WÐ",
		"very long":         strings.Repeat("K7QX", 1000),
		"only separators":   "----  ----",
		"a real code twice": "K7QX-9M2P-WD K7QX-9M2P-WD",
	} {
		got, err := NormalizeEnrollCode(in)
		var e *jagadesa.Error
		if err == nil || !errors.As(err, &e) || e.Code != jagadesa.EInvalid {
			t.Errorf("%s: NormalizeEnrollCode(%q) = %q, %v; want an EInvalid", name, in, got, err)
			continue
		}
		if len(in) >= 4 && strings.Contains(e.Message, in) {
			t.Errorf("%s: the error repeats the secret code: %s", name, e.Message)
		}
		if _, err := HashEnrollCode(in); err == nil {
			t.Errorf("%s: HashEnrollCode accepted %q", name, in)
		}
	}
}

package jagadesacmd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/accounts"
	"github.com/jagadesa/jagadesa/server/sqlite"
)

// The accounts a province starts with come from the CLI on the server
// host: the password from standard input, hashed with argon2id; tokens
// shown once; disabling ends everything.
func TestUserCommand(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	run := func(stdin string, args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := Run(ctx, append([]string{"user"}, append(args, "--data-dir", dir)...), noenv, strings.NewReader(stdin), &out, &errb)
		return out.String(), err
	}
	if _, err := run("correct horse battery staple\n", "add", "--username", "Admin.Jateng", "--role", "province-admin", "--province", "33"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("correct horse battery staple\n", "add", "--username", "csirt-purworejo", "--role", "regency-analyst", "--regency", "33.06"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"short\n", []string{"add", "--username", "viewer1", "--role", "viewer", "--province", "33"}, "12"},
		{"correct horse battery staple\n", []string{"add", "--username", "x1", "--role", "viewer", "--province", "33"}, "username"},
		{"correct horse battery staple\n", []string{"add", "--username", "viewer1", "--role", "root", "--province", "33"}, "unknown role"},
		{"correct horse battery staple\n", []string{"add", "--username", "tek", "--role", "technician"}, "regency"},
		{"correct horse battery staple\n", []string{"add", "--username", "admin.jateng", "--role", "viewer", "--province", "33"}, "exists"},
	} {
		if _, err := run(tt.stdin, tt.args...); err == nil || !strings.Contains(strings.ToLower(err.Error()), tt.want) {
			t.Errorf("%v: error %v, want one mentioning %q", tt.args, err, tt.want)
		}
	}
	out, err := run("", "list")
	if err != nil || !strings.Contains(out, "admin.jateng") || !strings.Contains(out, "regency 33.06") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	tok, err := run("", "token", "--username", "csirt-purworejo", "--name", "siem")
	tok = strings.TrimSpace(tok)
	if err != nil || !strings.HasPrefix(tok, "jdu_") {
		t.Fatalf("token: %q %v", tok, err)
	}

	db, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	u, hash, err := db.UserByName(ctx, "admin.jateng")
	if err != nil || u.Role != jagadesa.RoleProvinceAdmin || !strings.HasPrefix(hash, "$argon2id$") {
		t.Fatalf("stored %+v %q %v", u, hash, err)
	}
	if ok, _, err := accounts.VerifyPassword(hash, "correct horse battery staple"); !ok || err != nil {
		t.Fatalf("the stored hash does not verify the password: %v", err)
	}
	if u, ok := db.UserByTokenHash(accounts.HashToken(tok)); !ok || u.Username != "csirt-purworejo" {
		t.Fatalf("token not found: %+v", u)
	}
	db.Close()

	if _, err := run("", "disable", "--username", "csirt-purworejo"); err != nil {
		t.Fatal(err)
	}
	if db, err = sqlite.Open(dir); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, ok := db.UserByTokenHash(accounts.HashToken(tok)); ok {
		t.Fatal("a disabled account's token still works")
	}
}

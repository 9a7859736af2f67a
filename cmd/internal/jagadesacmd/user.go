package jagadesacmd

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/cmd/internal/envflag"
	"github.com/jagadesa/jagadesa/server/accounts"
	"github.com/jagadesa/jagadesa/server/metastore"
)

const userUsage = `usage: jagadesa user <add|list|disable|passwd|token> [--data-dir DIR | --metadata-url URL] [flags]

  add      --username NAME --role ROLE [--regency CODE] [--province CODE]
           the password is read from standard input (one line)
  list     every account, with its role and jurisdiction
  disable  --username NAME: signs the person out everywhere, revokes their tokens
  passwd   --username NAME: a new password from standard input; ends every session
  token    --username NAME --name LABEL: a new personal API token, shown once
           --username NAME --revoke ID: revoke one; --username NAME --list: list them

roles: province-admin, province-analyst, regency-analyst, viewer, technician
`

// runUser manages staff accounts on the server host, in the metadata
// database the server uses (it may be running: SQLite serialises writers).
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, userUsage)
		return errors.New("jagadesa user: which action? add, list, disable, passwd or token")
	}
	action := args[0]
	env := envflag.New(getenv)
	fs := flag.NewFlagSet("jagadesa user "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, userUsage) }
	dataDir := fs.String("data-dir", env.String("JAGADESA_DATA_DIR", "./data"), "the server's data directory (env JAGADESA_DATA_DIR)")
	metaURL := fs.String("metadata-url", getenv("JAGADESA_METADATA_URL"), "the server's metadata store, as jagadesa serve --metadata-url (env JAGADESA_METADATA_URL)")
	username := fs.String("username", "", "the account")
	role := fs.String("role", "", "add: the account's role")
	regency := fs.String("regency", "", "add: the regency (NN.NN) of a regency-analyst or technician")
	province := fs.String("province", "", "add: the province (NN); taken from --regency when that is given")
	label := fs.String("name", "", "token: what the token is for (e.g. the script that uses it)")
	revoke := fs.Int64("revoke", 0, "token: revoke the token with this id")
	list := fs.Bool("list", false, "token: list the account's tokens")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := env.Err(); err != nil {
		return err
	}
	if action != "list" && *username == "" {
		return errors.New("--username is required")
	}
	name := strings.ToLower(strings.TrimSpace(*username))
	if err := checkMetadataURL(*metaURL); err != nil {
		return err
	}
	db, err := openMetadata(ctx, metadataURL(*metaURL, *dataDir))
	if err != nil {
		return err
	}
	defer db.Close()

	switch action {
	case "add":
		r, err := jagadesa.ParseRole(*role)
		if err != nil {
			return fmt.Errorf("--role: %w", err)
		}
		prov := *province
		if prov == "" && len(*regency) >= 2 {
			prov = (*regency)[:2]
		}
		u := jagadesa.User{Username: name, Role: r, Province: prov, Regency: *regency}
		if p := u.Validate(); p != nil {
			return problemsErr("account", p)
		}
		pw, err := readPassword(stdin, name)
		if err != nil {
			return err
		}
		hash, err := accounts.HashPassword(pw)
		if err != nil {
			return err
		}
		u, err = db.CreateUser(ctx, u, hash)
		if err != nil {
			return err
		}
		if err := cliAudit(ctx, db, getenv, "user_add", u, string(u.Role)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "account %s added: %s\n", u.Username, jurisdiction(u))
	case "list":
		users, err := db.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tROLE\tJURISDICTION\tSTATE\tLAST SIGN-IN")
		for _, u := range users {
			state, last := "active", "never"
			if u.Disabled {
				state = "disabled"
			}
			if u.LastLogin != nil {
				last = u.LastLogin.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Username, u.Role, jurisdiction(u), state, last)
		}
		return tw.Flush()
	case "disable":
		if err := db.DisableUser(ctx, name); err != nil {
			return err
		}
		u, _, _ := db.UserByName(ctx, name)
		if err := cliAudit(ctx, db, getenv, "user_disable", u, ""); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "account %s disabled: its sessions ended and its tokens revoked\n", name)
	case "passwd":
		u, _, err := db.UserByName(ctx, name)
		if err != nil {
			return err
		}
		pw, err := readPassword(stdin, name)
		if err != nil {
			return err
		}
		hash, err := accounts.HashPassword(pw)
		if err != nil {
			return err
		}
		if err := db.SetPassword(ctx, name, hash); err != nil {
			return err
		}
		if err := db.LockUser(ctx, name, time.Time{}); err != nil {
			return err
		}
		if err := cliAudit(ctx, db, getenv, "user_passwd", u, "every session ended"); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed: every session of the account ended\n", name)
	case "token":
		switch {
		case *list:
			toks, err := db.UserTokens(ctx, name)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tCREATED\tLAST USED\tREVOKED")
			for _, t := range toks {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.CreatedAt.Format(time.RFC3339), timeOr(t.LastUsed, "never"), timeOr(t.RevokedAt, "-"))
			}
			return tw.Flush()
		case *revoke != 0:
			if err := db.RevokeUserToken(ctx, name, *revoke); err != nil {
				return err
			}
			u, _, _ := db.UserByName(ctx, name)
			if err := cliAudit(ctx, db, getenv, "user_token_revoke", u, "token "+strconv.FormatInt(*revoke, 10)); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "token %d of %s revoked\n", *revoke, name)
		default:
			if *label == "" {
				return errors.New("--name is required: say what the token is for")
			}
			tok, hash := accounts.NewToken("jdu_")
			id, err := db.CreateUserToken(ctx, name, *label, hash)
			if err != nil {
				return err
			}
			u, _, _ := db.UserByName(ctx, name)
			if err := cliAudit(ctx, db, getenv, "user_token_add", u, "token "+strconv.FormatInt(id, 10)+" ("+*label+")"); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "token %d for %s (%s); it is shown once, the server keeps only its hash:\n", id, name, *label)
			fmt.Fprintln(stdout, tok)
		}
	default:
		fmt.Fprint(stderr, userUsage)
		return fmt.Errorf("jagadesa user: unknown action %q", action)
	}
	return nil
}

// cliAudit records a change made with `jagadesa user` on the server host:
// the actor is the operating-system account that ran it.
func cliAudit(ctx context.Context, db metastore.Store, getenv func(string) string, action string, u jagadesa.User, detail string) error {
	who := getenv("SUDO_USER")
	if who == "" {
		if cur, err := user.Current(); err == nil {
			who = cur.Username
		} else {
			who = getenv("USER")
		}
	}
	area := u.Province
	if u.Regency != "" {
		area = u.Regency
	}
	return db.AppendAudit(ctx, jagadesa.AuditEvent{Actor: "cli:" + who, Address: "local", Action: action, Object: u.Username, Area: area, Detail: detail})
}

// readPassword reads one line from standard input and checks it against
// the password policy.
func readPassword(stdin io.Reader, username string) (string, error) {
	if stdin == nil {
		return "", errors.New("the password is read from standard input, and there is none")
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if err := accounts.CheckPassword(pw, username); err != nil {
		return "", err
	}
	return pw, nil
}

func jurisdiction(u jagadesa.User) string {
	if u.Regency != "" {
		return "regency " + u.Regency
	}
	return "province " + u.Province
}

func timeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Format(time.RFC3339)
}

func problemsErr(what string, p jagadesa.Problems) error {
	var parts []string
	for k, v := range p {
		parts = append(parts, k+": "+v)
	}
	return fmt.Errorf("%s: %s", what, strings.Join(parts, "; "))
}

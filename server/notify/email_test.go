package notify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jagadesa/jagadesa"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "jagadesa test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// received is one message the test relay accepted.
type received struct {
	from   string
	to     []string
	data   []byte
	user   string
	tlsOn  bool // the session was encrypted when it authenticated
	authed bool
}

// relay is a local SMTP server that demands STARTTLS before AUTH PLAIN.
type relay struct {
	mu   sync.Mutex
	msgs []received
	addr *net.TCPAddr
}

type relaySession struct {
	r    *relay
	conn *smtp.Conn
	cur  received
}

func (s *relaySession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *relaySession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != "jagadesa" || password != "relay-password" {
			return errors.New("535 bad credentials")
		}
		_, s.cur.tlsOn = s.conn.TLSConnectionState()
		s.cur.user, s.cur.authed = username, true
		return nil
	}), nil
}

func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.cur.authed {
		return smtp.ErrAuthRequired
	}
	s.cur.from = from
	return nil
}

func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "unknown@") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, s.cur)
	s.r.mu.Unlock()
	s.cur.to, s.cur.data = nil, nil
	return nil
}

func (s *relaySession) Reset()        {}
func (s *relaySession) Logout() error { return nil }

func startRelay(t *testing.T) (*relay, *x509.CertPool) {
	t.Helper()
	cert, pool := selfSigned(t)
	r := &relay{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &relaySession{r: r, conn: c}, nil
	}))
	srv.Domain = "relay.test"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.AllowInsecureAuth = false // AUTH only after STARTTLS
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().(*net.TCPAddr)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return r, pool
}

func (r *relay) messages() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.msgs...)
}

func TestEmailOverSTARTTLS(t *testing.T) {
	r, pool := startRelay(t)
	settings := Settings{SMTP: SMTPServer{
		Host: "127.0.0.1", Port: r.addr.Port, TLS: TLSStartTLS,
		Username: "jagadesa", Password: "relay-password",
		From: "JagaDesa <jagadesa@jatengprov.go.id>",
	}}
	d := New(settings, nil, WithSMTPTLSConfig(&tls.Config{RootCAs: pool}), WithVersion("1.2.3"))
	team := jagadesa.Channels{Email: []string{"csirt@purworejokab.go.id"}}
	d.Send(team, krandegan("opened"))
	closeNow(t, d)
	d = New(settings, nil, WithSMTPTLSConfig(&tls.Config{RootCAs: pool}))
	d.Send(team, krandegan("resolved"))
	closeNow(t, d)

	msgs := r.messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages at the relay, want 2", len(msgs))
	}
	const root = "<jagadesa.inc-20260303-0001.opened@jatengprov.go.id>"
	for i, want := range []struct {
		subject, msgID, inReplyTo, text, html string
	}{
		{
			subject: "[JagaDesa][KRITIS] Desa Krandegan putus — CSIRT Kabupaten Purworejo",
			msgID:   root,
			text:    "Desa Krandegan (Kec. Bayan, Kabupaten Purworejo) putus sejak 12.03 WIB.",
			html:    "<b>Desa Krandegan</b> (Kec. Bayan, Kabupaten Purworejo) putus sejak 12.03 WIB.",
		},
		{
			subject:   "[JagaDesa][KRITIS] Selesai: Desa Krandegan putus — CSIRT Kabupaten Purworejo",
			msgID:     "<jagadesa.inc-20260303-0001.resolved@jatengprov.go.id>",
			inReplyTo: root,
			text:      "Insiden selesai pada 12.41 WIB; lama gangguan 38 menit.",
			html:      "Insiden selesai pada 12.41 WIB; lama gangguan 38 menit.",
		},
	} {
		m := msgs[i]
		if !m.tlsOn || m.user != "jagadesa" {
			t.Errorf("message %d: authenticated as %q, TLS %v; want jagadesa over STARTTLS", i, m.user, m.tlsOn)
		}
		if m.from != "jagadesa@jatengprov.go.id" || len(m.to) != 1 || m.to[0] != "csirt@purworejokab.go.id" {
			t.Errorf("message %d: envelope %s → %v", i, m.from, m.to)
		}
		msg, err := netmail.ReadMessage(bytes.NewReader(m.data))
		if err != nil {
			t.Fatalf("message %d does not parse: %v\n%s", i, err, m.data)
		}
		dec := new(mime.WordDecoder)
		subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
		if err != nil || subject != want.subject {
			t.Errorf("message %d: subject %q (%v), want %q", i, subject, err, want.subject)
		}
		if got := msg.Header.Get("Message-Id"); got != want.msgID {
			t.Errorf("message %d: Message-ID %q, want %q", i, got, want.msgID)
		}
		if got := msg.Header.Get("In-Reply-To"); got != want.inReplyTo {
			t.Errorf("message %d: In-Reply-To %q, want %q", i, got, want.inReplyTo)
		}
		if got := msg.Header.Get("References"); got != want.inReplyTo {
			t.Errorf("message %d: References %q, want %q", i, got, want.inReplyTo)
		}
		if got := msg.Header.Get("To"); !strings.Contains(got, "csirt@purworejokab.go.id") {
			t.Errorf("message %d: To %q", i, got)
		}
		if got := msg.Header.Get("Auto-Submitted"); got != "auto-generated" {
			t.Errorf("message %d: Auto-Submitted %q", i, got)
		}
		text, html := bodies(t, msg)
		if !strings.Contains(text, want.text) {
			t.Errorf("message %d: text part lacks %q:\n%s", i, want.text, text)
		}
		if !strings.Contains(html, want.html) {
			t.Errorf("message %d: HTML part lacks %q:\n%s", i, want.html, html)
		}
		for _, part := range []string{text, html} {
			if !strings.Contains(part, "https://jagadesa.example/incidents/inc-20260303-0001") || !strings.Contains(part, "desa 3T/miskin ekstrem") {
				t.Errorf("message %d: a part lacks the dashboard link or the priority marker:\n%s", i, part)
			}
		}
	}
	if ua := mustHeader(t, msgs[0].data, "User-Agent"); ua != "jagadesa/1.2.3" {
		t.Errorf("User-Agent %q", ua)
	}
}

func mustHeader(t *testing.T, data []byte, name string) string {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Header.Get(name)
}

// bodies returns the decoded text/plain and text/html parts of a
// multipart/alternative message.
func bodies(t *testing.T, msg *netmail.Message) (text, html string) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = p
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			r = quotedprintable.NewReader(p)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		}
	}
	if text == "" || html == "" {
		t.Fatalf("want a text and an HTML part; text %d bytes, html %d bytes", len(text), len(html))
	}
	return text, html
}

func TestEmailFailures(t *testing.T) {
	r, pool := startRelay(t)
	base := SMTPServer{Host: "127.0.0.1", Port: r.addr.Port, Username: "jagadesa", Password: "relay-password", From: "jagadesa@jatengprov.go.id"}
	tests := []struct {
		name     string
		smtp     SMTPServer
		to       string
		tlsConf  *tls.Config
		wantLogs string
	}{
		{"unknown mailbox is permanent", base, "unknown@purworejokab.go.id", &tls.Config{RootCAs: pool}, "no such mailbox"},
		{"untrusted certificate", base, "csirt@purworejokab.go.id", &tls.Config{}, "certificate"},
		{"wrong password", func() SMTPServer { s := base; s.Password = "wrong-pass-secret"; return s }(), "csirt@purworejokab.go.id", &tls.Config{RootCAs: pool}, "535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, logs := testLogger(t)
			d := New(Settings{SMTP: tt.smtp}, logger, WithSMTPTLSConfig(tt.tlsConf), WithRetry(fastRetry))
			d.Send(jagadesa.Channels{Email: []string{tt.to}}, krandegan("opened"))
			closeNow(t, d)
			if n := testutil.ToFloat64(d.failed.WithLabelValues(ChannelEmail)); n != 1 {
				t.Fatalf("failed = %v, want 1\n%s", n, logs)
			}
			if !strings.Contains(logs.String(), tt.wantLogs) {
				t.Errorf("log lacks %q:\n%s", tt.wantLogs, logs)
			}
			if strings.Contains(logs.String(), tt.smtp.Password) {
				t.Errorf("the SMTP password is in the log:\n%s", logs)
			}
		})
	}
	if n := len(r.messages()); n != 0 {
		t.Fatalf("%d messages accepted, want none", n)
	}
}

func TestMessageIDs(t *testing.T) {
	n := krandegan("reminder")
	n.Incident.ID = "inc 1/<x>"
	id := messageID(n, "reminder", "example.go.id")
	if id != "jagadesa.inc-1--x-.reminder."+itoa(n.At.Unix())+"@example.go.id" {
		t.Fatalf("messageID = %q", id)
	}
	if messageID(n, "opened", "d") != messageID(n, "opened", "d") {
		t.Fatal("Message-ID not stable")
	}
}

func itoa(i int64) string { return big.NewInt(i).String() }

// The monthly reports reach each recipient as one message with the files
// attached, byte for byte.
func TestSendReportAttachments(t *testing.T) {
	r, pool := startRelay(t)
	d := New(Settings{SMTP: SMTPServer{Host: "127.0.0.1", Port: r.addr.Port, TLS: TLSStartTLS, Username: "jagadesa", Password: "relay-password",
		From: "JagaDesa <jagadesa@jatengprov.go.id>"}}, nil, WithSMTPTLSConfig(&tls.Config{RootCAs: pool}))
	defer closeNow(t, d)
	pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 300)...)
	err := d.SendReport(context.Background(), []string{"csirt@purworejokab.go.id", "diskominfo@purworejokab.go.id"}, "Laporan bulanan JagaDesa 2026-11",
		"Terlampir laporan bulan November 2026.", []Attachment{{Name: "jagadesa-sla-2026-11.pdf", ContentType: "application/pdf", Data: pdf}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := r.messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		msg, err := netmail.ReadMessage(bytes.NewReader(m.data))
		if err != nil {
			t.Fatal(err)
		}
		_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		mr := multipart.NewReader(msg.Body, params["boundary"])
		found := false
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			if p.FileName() != "jagadesa-sla-2026-11.pdf" {
				continue
			}
			b, _ := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
			found = bytes.Equal(b, pdf)
		}
		if !found || msg.Header.Get("Auto-Submitted") != "auto-generated" {
			t.Errorf("message to %v: attachment intact %v", m.to, found)
		}
	}
}

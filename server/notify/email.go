package notify

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	netmail "net/mail"
	"strconv"
	"strings"

	"github.com/wneessen/go-mail"

	"github.com/jagadesa/jagadesa"
)

// messageID is the stable Message-ID of an incident's event: the same on
// every retry, so a relay that did take the first try can drop the
// duplicate, and predictable, so later events can point at the first.
// Reminders repeat, so each carries its time.
func messageID(n jagadesa.Notification, event, domain string) string {
	local := "jagadesa." + msgIDSafe(n.Incident.ID) + "." + msgIDSafe(event)
	if event == "reminder" {
		local += "." + strconv.FormatInt(n.At.Unix(), 10)
	}
	return local + "@" + domain
}

// msgIDSafe keeps only characters allowed unquoted in a Message-ID's left
// part (a conservative subset of RFC 5322 atext).
func msgIDSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '-'
	}, s)
}

// buildEmail writes the message for one recipient: plain text with an
// HTML alternative, threaded under the incident's "opened" message.
func (d *Dispatcher) buildEmail(to string, n jagadesa.Notification) (*mail.Msg, error) {
	s := d.settings.SMTP
	from, err := netmail.ParseAddress(s.From)
	if err != nil {
		return nil, permanent(fmt.Errorf("smtp from: %w", err))
	}
	domain := "jagadesa.invalid"
	if _, dom, ok := strings.Cut(from.Address, "@"); ok && dom != "" {
		domain = dom
	}
	v := newView(n, d.settings.DashboardURL)
	m := mail.NewMsg(mail.WithCharset(mail.CharsetUTF8))
	m.FromMailAddress(from)
	if err := m.To(to); err != nil {
		return nil, permanent(fmt.Errorf("recipient: %w", err))
	}
	m.Subject(emailSubject(n, v))
	at := n.At
	if at.IsZero() {
		at = d.now()
	}
	m.SetDateWithValue(at)
	m.SetMessageIDWithValue(messageID(n, n.Event, domain))
	if n.Event != "opened" {
		root := "<" + messageID(n, "opened", domain) + ">"
		m.SetGenHeaderPreformatted(mail.HeaderInReplyTo, root)
		m.SetGenHeaderPreformatted(mail.HeaderReferences, root)
	}
	m.SetUserAgent("jagadesa/" + d.version)
	// An automated message: vacation responders should stay quiet.
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetGenHeader("X-JagaDesa-Incident", n.Incident.ID)
	m.SetGenHeader(HeaderEvent, n.Event)
	m.SetBodyString(mail.TypeTextPlain, render(emailTextTmpl, v))
	m.AddAlternativeString(mail.TypeTextHTML, render(emailHTMLTmpl, v))
	return m, nil
}

func (d *Dispatcher) sendEmail(ctx context.Context, to string, n jagadesa.Notification) error {
	if d.settings.SMTP.Host == "" {
		return permanent(errors.New("smtp: no host configured"))
	}
	m, err := d.buildEmail(to, n)
	if err != nil {
		return err
	}
	return d.dialAndSend(ctx, to, m)
}

// dialAndSend sends one message through the configured relay.
func (d *Dispatcher) dialAndSend(ctx context.Context, to string, m *mail.Msg) error {
	s := d.settings.SMTP
	tlsConf := &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
	if d.smtpTLS != nil {
		tlsConf = d.smtpTLS.Clone()
		if tlsConf.ServerName == "" {
			tlsConf.ServerName = s.Host
		}
	}
	opts := []mail.Option{
		mail.WithPort(s.port()),
		mail.WithTimeout(d.retry.AttemptTimeout),
		mail.WithTLSConfig(tlsConf),
	}
	switch s.tlsMode() {
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if s.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(s.Username), mail.WithPassword(s.Password))
	}
	c, err := mail.NewClient(s.Host, opts...)
	if err != nil {
		return permanent(redactErr(fmt.Errorf("smtp client: %w", err), s.Password))
	}
	err = c.DialAndSendWithContext(ctx, m)
	if err == nil {
		return nil
	}
	out := fmt.Errorf("smtp %s: %w", to, err)
	// A 5xx reply (unknown mailbox, message refused) will be refused again.
	var se *mail.SendError
	if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
		out = permanent(out)
	}
	return redactErr(out, s.Password)
}

// Attachment is a file sent with a report e-mail.
type Attachment struct {
	Name        string
	ContentType string
	Data        []byte
}

// SendReport e-mails a report to each recipient, one message each, with
// its files attached: the monthly reports for a team. It returns the
// first error after trying every recipient.
func (d *Dispatcher) SendReport(ctx context.Context, to []string, subject, text string, files []Attachment) error {
	s := d.settings.SMTP
	if s.Host == "" {
		return permanent(errors.New("smtp: no host configured"))
	}
	from, err := netmail.ParseAddress(s.From)
	if err != nil {
		return permanent(fmt.Errorf("smtp from: %w", err))
	}
	var first error
	for _, rcpt := range to {
		m := mail.NewMsg(mail.WithCharset(mail.CharsetUTF8))
		m.FromMailAddress(from)
		if err := m.To(rcpt); err != nil {
			first = cmp.Or(first, permanent(fmt.Errorf("recipient: %w", err)))
			continue
		}
		m.Subject(subject)
		m.SetDateWithValue(d.now())
		m.SetUserAgent("jagadesa/" + d.version)
		m.SetGenHeader("Auto-Submitted", "auto-generated")
		m.SetBodyString(mail.TypeTextPlain, text)
		for _, f := range files {
			if err := m.AttachReader(f.Name, bytes.NewReader(f.Data), mail.WithFileContentType(mail.ContentType(f.ContentType))); err != nil {
				return permanent(fmt.Errorf("attach %s: %w", f.Name, err))
			}
		}
		if err := d.dialAndSend(ctx, rcpt, m); err != nil {
			first = cmp.Or(first, err)
		}
	}
	return first
}

// Package notify tells CSIRTs about incidents: signed webhooks,
// Alertmanager, Telegram and e-mail. A Dispatcher takes a team's channels
// and a jagadesa.Notification, and delivers it in the background with
// retries, per-destination rate limits and de-duplication, so the incident
// engine that calls it never waits on the network.
//
// Texts are in Bahasa Indonesia (texts.go). Secrets (webhook keys, the bot
// token, the SMTP password) never appear in logs, errors or metrics.
package notify

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jagadesa/jagadesa"
)

// Settings are the server-wide parts of notification: the bot, the mail
// relay and the dashboard's public address.
type Settings struct {
	Telegram TelegramBot `json:"telegram" yaml:"telegram"`
	SMTP     SMTPServer  `json:"smtp" yaml:"smtp"`
	// DashboardURL is the dashboard's public base URL, used for links when
	// a Notification carries none.
	DashboardURL string `json:"dashboard_url,omitempty" yaml:"dashboard_url,omitempty"`
}

// TelegramBot is the bot that writes to every team's chats.
type TelegramBot struct {
	Token   string `json:"token,omitempty" yaml:"token,omitempty"`       // from @BotFather; never logged
	APIBase string `json:"api_base,omitempty" yaml:"api_base,omitempty"` // default https://api.telegram.org
}

// DefaultTelegramAPI is the Bot API's address.
const DefaultTelegramAPI = "https://api.telegram.org"

// SMTP TLS modes.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS (port 587); required, not opportunistic
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no encryption (port 25); only for a relay on a trusted network
)

// SMTPServer is the mail relay.
type SMTPServer struct {
	Host     string `json:"host,omitempty" yaml:"host,omitempty"`
	Port     int    `json:"port,omitempty" yaml:"port,omitempty"` // default from TLS: 587, 465 or 25
	Username string `json:"username,omitempty" yaml:"username,omitempty"`
	Password string `json:"password,omitempty" yaml:"password,omitempty"` // never logged
	From     string `json:"from,omitempty" yaml:"from,omitempty"`         // e.g. "JagaDesa <jagadesa@example.go.id>"
	TLS      string `json:"tls,omitempty" yaml:"tls,omitempty"`           // starttls (default), tls or none
}

// Validate checks the bot, the relay and the dashboard URL, all problems
// at once. Unset parts are fine: a channel whose settings are missing
// fails at send time (see Check).
func (s Settings) Validate() error {
	var errs []error
	if err := s.Telegram.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("telegram: %w", err))
	}
	if err := s.SMTP.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("smtp: %w", err))
	}
	if s.DashboardURL != "" {
		if err := jagadesa.CheckHTTPURL(s.DashboardURL); err != nil {
			errs = append(errs, fmt.Errorf("dashboard_url: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Check reports the channels of c that these settings cannot serve: Telegram
// chats without a bot token, e-mail recipients without a relay.
func (s Settings) Check(c jagadesa.Channels) error {
	var errs []error
	if len(c.Telegram) > 0 && s.Telegram.Token == "" {
		errs = append(errs, errors.New("telegram chats are set but no bot token is configured"))
	}
	if len(c.Email) > 0 && s.SMTP.Host == "" {
		errs = append(errs, errors.New("e-mail recipients are set but no SMTP host is configured"))
	}
	return errors.Join(errs...)
}

// Validate checks the token's shape (never printing it) and the API base.
func (b TelegramBot) Validate() error {
	var errs []error
	if b.Token != "" {
		// A token is "<bot id>:<secret>". Say what is wrong, not what it is.
		id, secret, ok := strings.Cut(b.Token, ":")
		if !ok || id == "" || secret == "" || strings.Trim(id, "0123456789") != "" || strings.ContainsAny(b.Token, "/ \t\n?#") {
			errs = append(errs, errors.New("token is not of the form <bot id>:<secret> given by @BotFather"))
		}
	}
	if b.APIBase != "" {
		if err := jagadesa.CheckHTTPURL(b.APIBase); err != nil {
			errs = append(errs, fmt.Errorf("api_base: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (b TelegramBot) apiBase() string {
	if b.APIBase == "" {
		return DefaultTelegramAPI
	}
	return strings.TrimRight(b.APIBase, "/")
}

// Validate checks the relay. An empty Host means e-mail is off.
func (m SMTPServer) Validate() error {
	if m.Host == "" {
		if m.From != "" || m.Username != "" {
			return errors.New("host is empty but other SMTP settings are set")
		}
		return nil
	}
	var errs []error
	if strings.ContainsAny(m.Host, "/ :") && net.ParseIP(m.Host) == nil {
		errs = append(errs, fmt.Errorf("host %q must be a host name or IP address, without a port or scheme", m.Host))
	}
	if m.Port < 0 || m.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is out of range", m.Port))
	}
	switch m.tlsMode() {
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		if m.Username != "" {
			errs = append(errs, errors.New(`a username is set with tls "none": the password would cross the network in clear`))
		}
	default:
		errs = append(errs, fmt.Errorf("tls %q: want starttls, tls or none", m.TLS))
	}
	if (m.Username == "") != (m.Password == "") {
		errs = append(errs, errors.New("username and password must be set together"))
	}
	if m.From == "" {
		errs = append(errs, errors.New("from is empty"))
	} else if err := jagadesa.CheckEmail(m.From); err != nil {
		errs = append(errs, fmt.Errorf("from: %w", err))
	}
	return errors.Join(errs...)
}

func (m SMTPServer) tlsMode() string {
	if m.TLS == "" {
		return TLSStartTLS
	}
	return strings.ToLower(m.TLS)
}

func (m SMTPServer) port() int {
	if m.Port != 0 {
		return m.Port
	}
	switch m.tlsMode() {
	case TLSImplicit:
		return 465
	case TLSNone:
		return 25
	}
	return 587
}

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
	"net/mail"
	"net/url"
	"strings"
)

// Channels are the ways to reach one CSIRT. They come from the CSIRT
// directory file and hold secrets, so they are never served back.
type Channels struct {
	Webhooks     []Webhook      `json:"webhooks,omitempty" yaml:"webhooks,omitempty"`
	Alertmanager []string       `json:"alertmanager,omitempty" yaml:"alertmanager,omitempty"` // base URLs, e.g. http://am:9093
	Telegram     []TelegramChat `json:"telegram,omitempty" yaml:"telegram,omitempty"`
	Email        []string       `json:"email,omitempty" yaml:"email,omitempty"` // recipient addresses
}

// Webhook is a URL that receives the Notification as signed JSON.
type Webhook struct {
	URL string `json:"url" yaml:"url"`
	// Secret is the HMAC key of the X-JagaDesa-Signature header. It is
	// never logged.
	Secret string `json:"secret,omitempty" yaml:"secret,omitempty"`
}

// TelegramChat is a chat (a group, a channel or a person) the bot writes to.
type TelegramChat struct {
	// ChatID is the numeric id ("-1001234567890") or "@channelname".
	ChatID string `json:"chat_id" yaml:"chat_id"`
}

// Empty reports whether c names no destination at all.
func (c Channels) Empty() bool {
	return len(c.Webhooks) == 0 && len(c.Alertmanager) == 0 && len(c.Telegram) == 0 && len(c.Email) == 0
}

// Validate checks every destination and reports all problems at once.
func (c Channels) Validate() error {
	var errs []error
	for i, w := range c.Webhooks {
		if err := w.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("webhooks[%d]: %w", i, err))
		}
	}
	for i, u := range c.Alertmanager {
		if err := checkURL(u); err != nil {
			errs = append(errs, fmt.Errorf("alertmanager[%d]: %w", i, err))
		}
	}
	for i, t := range c.Telegram {
		if err := t.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("telegram[%d]: %w", i, err))
		}
	}
	for i, e := range c.Email {
		if err := checkAddress(e); err != nil {
			errs = append(errs, fmt.Errorf("email[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// Validate checks the URL; a webhook without a secret is allowed (some
// receivers cannot verify) but its requests then carry no signature.
func (w Webhook) Validate() error {
	return checkURL(w.URL)
}

// Validate checks the chat id's shape: a (possibly negative) integer or
// an @username.
func (t TelegramChat) Validate() error {
	id := t.ChatID
	switch {
	case id == "":
		return errors.New("chat_id is empty")
	case strings.HasPrefix(id, "@"):
		if len(id) < 2 || strings.ContainsAny(id, " \t\n/") {
			return fmt.Errorf("chat_id %q is not a valid @username", id)
		}
		return nil
	}
	digits := strings.TrimPrefix(id, "-")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return fmt.Errorf("chat_id %q is neither a numeric id nor an @username", id)
	}
	return nil
}

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
		if err := checkURL(s.DashboardURL); err != nil {
			errs = append(errs, fmt.Errorf("dashboard_url: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Check reports the channels of c that these settings cannot serve: Telegram
// chats without a bot token, e-mail recipients without a relay.
func (s Settings) Check(c Channels) error {
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
		if err := checkURL(b.APIBase); err != nil {
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
	} else if err := checkAddress(m.From); err != nil {
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

func checkURL(raw string) error {
	if raw == "" {
		return errors.New("url is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, which may hold a token in its
		// query; name the problem only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("invalid url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url scheme %q: want http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("url has no host")
	}
	return nil
}

func checkAddress(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return fmt.Errorf("invalid address %q: %w", s, err)
	}
	if !strings.Contains(a.Address, "@") {
		return fmt.Errorf("invalid address %q", s)
	}
	return nil
}

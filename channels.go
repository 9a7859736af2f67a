package jagadesa

import (
	"errors"
	"fmt"
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
		if err := CheckHTTPURL(u); err != nil {
			errs = append(errs, fmt.Errorf("alertmanager[%d]: %w", i, err))
		}
	}
	for i, t := range c.Telegram {
		if err := t.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("telegram[%d]: %w", i, err))
		}
	}
	for i, e := range c.Email {
		if err := CheckEmail(e); err != nil {
			errs = append(errs, fmt.Errorf("email[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// Validate checks the URL; a webhook without a secret is allowed (some
// receivers cannot verify) but its requests then carry no signature.
func (w Webhook) Validate() error {
	return CheckHTTPURL(w.URL)
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

// CheckHTTPURL checks that raw is an http(s) URL with a host, without
// repeating the URL (it may carry a token) in the error.
func CheckHTTPURL(raw string) error {
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

// CheckEmail checks one e-mail address (RFC 5322, with an @).
func CheckEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return fmt.Errorf("invalid address %q: %w", s, err)
	}
	if !strings.Contains(a.Address, "@") {
		return fmt.Errorf("invalid address %q", s)
	}
	return nil
}

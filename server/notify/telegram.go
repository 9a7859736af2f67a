package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
)

// ackPrefix starts the callback data of the "Tangani (ack)" button.
const ackPrefix = "ack:"

// telegramAPI calls Bot API methods. Every error it returns has the token
// removed: the token is part of each request's URL.
type telegramAPI struct {
	bot    TelegramBot
	client *http.Client
}

// tgResponse is the Bot API's envelope.
type tgResponse struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

func (t telegramAPI) call(ctx context.Context, method string, params, result any) error {
	err := t.do(ctx, method, params, result)
	return redactErr(err, t.bot.Token)
}

func (t telegramAPI) do(ctx context.Context, method string, params, result any) error {
	if t.bot.Token == "" {
		return permanent(errors.New("telegram: no bot token configured"))
	}
	body, err := json.Marshal(params)
	if err != nil {
		return permanent(fmt.Errorf("telegram %s: encode: %w", method, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.bot.apiBase()+"/bot"+t.bot.Token+"/"+method, bytes.NewReader(body))
	if err != nil {
		return permanent(fmt.Errorf("telegram %s: %w", method, err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("telegram %s: %w", method, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("telegram %s: read answer: %w", method, err)
	}
	var r tgResponse
	if err := json.Unmarshal(data, &r); err != nil {
		// Not the Bot API talking (a proxy's error page, say): judge by
		// the HTTP status alone.
		if serr := statusError(&http.Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(data))}, time.Now()); serr != nil {
			return fmt.Errorf("telegram %s: %w", method, serr)
		}
		return fmt.Errorf("telegram %s: undecodable answer: %w", method, err)
	}
	if !r.OK {
		code := r.ErrorCode
		if code == 0 {
			code = resp.StatusCode
		}
		err := fmt.Errorf("telegram %s: %d %s", method, code, r.Description)
		switch {
		case code == http.StatusTooManyRequests:
			if r.Parameters != nil && r.Parameters.RetryAfter > 0 {
				return retryAfterError{err, time.Duration(r.Parameters.RetryAfter) * time.Second}
			}
			return err
		case code >= 500 || code == http.StatusRequestTimeout:
			return err
		case code == http.StatusConflict:
			// getUpdates while a webhook is set or another poller runs:
			// may clear up, so not permanent.
			return err
		default:
			// 400 chat not found, 403 bot blocked or kicked: retrying
			// will not help.
			return permanent(err)
		}
	}
	if result != nil && len(r.Result) > 0 {
		if err := json.Unmarshal(r.Result, result); err != nil {
			return fmt.Errorf("telegram %s: decode result: %w", method, err)
		}
	}
	return nil
}

type tgButton struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data"`
}

type tgKeyboard struct {
	InlineKeyboard [][]tgButton `json:"inline_keyboard"`
}

type tgSendMessage struct {
	ChatID                string      `json:"chat_id"`
	Text                  string      `json:"text"`
	ParseMode             string      `json:"parse_mode"`
	DisableWebPagePreview bool        `json:"disable_web_page_preview"`
	ReplyMarkup           *tgKeyboard `json:"reply_markup,omitempty"`
}

// telegramMessage builds the sendMessage call for one chat. Only an open,
// unacknowledged incident gets the ack button; Telegram caps callback data
// at 64 bytes, so an id longer than that gets no button.
func telegramMessage(chatID string, n jagadesa.Notification, dashboard string) tgSendMessage {
	m := tgSendMessage{
		ChatID:                chatID,
		Text:                  render(telegramTmpl, newView(n, dashboard)),
		ParseMode:             "HTML",
		DisableWebPagePreview: true,
	}
	data := ackPrefix + n.Incident.ID
	open := n.Incident.State == jagadesa.StateOpen || n.Incident.State == ""
	if open && n.Event != "acknowledged" && n.Event != "resolved" && n.Incident.ID != "" && len(data) <= 64 {
		m.ReplyMarkup = &tgKeyboard{InlineKeyboard: [][]tgButton{{{Text: textAckBtn, CallbackData: data}}}}
	}
	return m
}

func (d *Dispatcher) sendTelegram(ctx context.Context, chatID string, n jagadesa.Notification) error {
	api := telegramAPI{bot: d.settings.Telegram, client: d.client}
	return api.call(ctx, "sendMessage", telegramMessage(chatID, n, d.settings.DashboardURL), nil)
}

// AckFunc acknowledges an incident for team (the CSIRT whose chat the
// button was pressed in) on behalf of by ("telegram:@username", or
// "telegram:<user id>" for users without a username). It must check that
// the incident exists, belongs to that team and may be acknowledged: the
// id comes from a chat client and can be forged.
type AckFunc func(ctx context.Context, incidentID, team, by string) error

// TelegramUpdates long-polls the Bot API for presses of the "Tangani (ack)"
// button and acknowledges the incident. Run one per bot token: Telegram
// refuses a second concurrent poller (409 Conflict).
type TelegramUpdates struct {
	Bot    TelegramBot
	Ack    AckFunc
	Logger *slog.Logger
	// Client is the HTTP client; its Timeout, if set, must exceed
	// PollTimeout. Default: http.DefaultClient with per-call deadlines.
	Client *http.Client
	// PollTimeout is how long one getUpdates waits for news (default 50 s).
	PollTimeout time.Duration
	// ChatTeams maps each chat that may act (ids as in
	// TelegramChat.ChatID, or @channelname) to its CSIRT team. A button
	// pressed anywhere else is refused; the team is handed to Ack, which
	// lets a team act only on its own incidents.
	ChatTeams map[string]string
	// MaxBackoff caps the wait after repeated errors (default 1 minute).
	MaxBackoff time.Duration
}

type tgUpdate struct {
	UpdateID      int64            `json:"update_id"`
	CallbackQuery *tgCallbackQuery `json:"callback_query"`
}

type tgCallbackQuery struct {
	ID   string `json:"id"`
	From struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	} `json:"from"`
	Message *struct {
		Chat struct {
			ID       int64  `json:"id"`
			Username string `json:"username"`
		} `json:"chat"`
	} `json:"message"`
	Data string `json:"data"`
}

// Run polls until ctx ends, then returns ctx's error. Errors from the API
// are logged and retried with backoff (1 s doubling, capped), or after the
// server's retry_after.
func (u *TelegramUpdates) Run(ctx context.Context) error {
	log := u.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := u.Client
	if client == nil {
		client = http.DefaultClient
	}
	poll := u.PollTimeout
	if poll <= 0 {
		poll = 50 * time.Second
	}
	maxBackoff := u.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = time.Minute
	}
	api := telegramAPI{bot: u.Bot, client: client}
	var offset int64
	backoff := time.Duration(0)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var updates []tgUpdate
		pctx, cancel := context.WithTimeout(ctx, poll+10*time.Second)
		err := api.call(pctx, "getUpdates", map[string]any{
			"offset":          offset,
			"timeout":         int(poll / time.Second),
			"allowed_updates": []string{"callback_query"},
		}, &updates)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			backoff = min(max(2*backoff, time.Second), maxBackoff)
			wait := max(backoff, retryAfterOf(err))
			log.Warn("telegram getUpdates failed", "err", err, "retry_in", wait)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			continue
		}
		backoff = 0
		for _, up := range updates {
			// Confirm each update by asking past it next time, even if
			// handling it failed: a poisoned update must not loop forever.
			offset = max(offset, up.UpdateID+1)
			if up.CallbackQuery != nil {
				u.handle(ctx, api, log, up.CallbackQuery)
			}
		}
	}
}

func (u *TelegramUpdates) handle(ctx context.Context, api telegramAPI, log *slog.Logger, q *tgCallbackQuery) {
	answer := func(text string) {
		if len([]rune(text)) > 200 { // the Bot API's limit
			text = string([]rune(text)[:199]) + "…"
		}
		err := api.call(ctx, "answerCallbackQuery", map[string]any{"callback_query_id": q.ID, "text": text}, nil)
		if err != nil {
			log.Warn("telegram answerCallbackQuery failed", "err", err)
		}
	}
	id, ok := strings.CutPrefix(q.Data, ackPrefix)
	if !ok || id == "" {
		answer("Tombol tidak dikenal")
		return
	}
	by := "telegram:" + strconv.FormatInt(q.From.ID, 10)
	if q.From.Username != "" {
		by = "telegram:@" + q.From.Username
	}
	team := u.teamOf(q)
	if team == "" {
		log.Warn("telegram ack refused: chat not allowed", "incident", id, "by", by)
		answer(textDenied)
		return
	}
	if u.Ack == nil {
		answer(textAckFail + "penanganan lewat Telegram tidak diaktifkan")
		return
	}
	if err := u.Ack(ctx, id, team, by); err != nil {
		log.Warn("telegram ack failed", "incident", id, "by", by, "err", redact(err.Error(), u.Bot.Token))
		answer(textAckFail + redact(err.Error(), u.Bot.Token))
		return
	}
	log.Info("incident acknowledged from telegram", "incident", id, "by", by)
	answer(textAckOK)
}

// teamOf is the team of the chat the button was pressed in ("": none).
func (u *TelegramUpdates) teamOf(q *tgCallbackQuery) string {
	if q.Message == nil {
		return "" // an inline-mode message: no chat to check
	}
	if t := u.ChatTeams[strconv.FormatInt(q.Message.Chat.ID, 10)]; t != "" {
		return t
	}
	if q.Message.Chat.Username != "" {
		for c, t := range u.ChatTeams {
			if strings.EqualFold(c, "@"+q.Message.Chat.Username) {
				return t
			}
		}
	}
	return ""
}

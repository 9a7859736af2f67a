package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jagadesa/jagadesa"
)

const testToken = "123456789:AAE-secret_token-value"

// botCall is one request to the stand-in Bot API.
type botCall struct {
	method string
	params map[string]any
	at     time.Time
}

// fakeBot stands in for api.telegram.org: /bot<token>/<method> with JSON
// bodies, answering {"ok":true,"result":…} or the API's error shape.
type fakeBot struct {
	mu    sync.Mutex
	calls []botCall
	// answer decides the reply to the n-th call (from 1) of a method;
	// nil result means {"ok":true,"result":true}.
	answer func(method string, n int, params map[string]any) (status int, body any)
	srv    *httptest.Server
}

func newFakeBot(t *testing.T, answer func(string, int, map[string]any) (int, any)) *fakeBot {
	t.Helper()
	b := &fakeBot{answer: answer}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *fakeBot) serve(w http.ResponseWriter, r *http.Request) {
	token, method, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/bot"), "/")
	w.Header().Set("Content-Type", "application/json")
	if !strings.HasPrefix(r.URL.Path, "/bot") || !ok || token != testToken {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: expected a JSON POST"}`)
		return
	}
	var params map[string]any
	if err := json.NewDecoder(r.Body).Decode(&params); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"ok":false,"error_code":400,"description":%q}`, "Bad Request: "+err.Error())
		return
	}
	b.mu.Lock()
	b.calls = append(b.calls, botCall{method, params, time.Now()})
	n := 0
	for _, c := range b.calls {
		if c.method == method {
			n++
		}
	}
	b.mu.Unlock()
	status, body := http.StatusOK, any(nil)
	if b.answer != nil {
		status, body = b.answer(method, n, params)
	}
	if body == nil {
		body = map[string]any{"ok": true, "result": true}
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func (b *fakeBot) callsTo(method string) []botCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []botCall
	for _, c := range b.calls {
		if c.method == method {
			out = append(out, c)
		}
	}
	return out
}

func tgError(code int, desc string, retryAfter int) (int, any) {
	body := map[string]any{"ok": false, "error_code": code, "description": desc}
	if retryAfter > 0 {
		body["parameters"] = map[string]any{"retry_after": retryAfter}
	}
	return code, body
}

func botSettings(b *fakeBot) Settings {
	return Settings{Telegram: TelegramBot{Token: testToken, APIBase: b.srv.URL}}
}

func TestTelegramSendMessage(t *testing.T) {
	b := newFakeBot(t, nil)
	d := New(botSettings(b), nil)
	team := jagadesa.Channels{Telegram: []jagadesa.TelegramChat{{ChatID: "-1001234567890"}, {ChatID: "@csirt_purworejo"}}}
	n := krandegan("opened")
	// A name with markup in it must arrive as text, not as tags.
	n.Villages[0].Name = `Krandegan <i>Lor</i> & "Kidul"`
	d.Send(team, n)
	d.Send(team, krandegan("acknowledged"))
	closeNow(t, d)

	calls := b.callsTo("sendMessage")
	if len(calls) != 4 {
		t.Fatalf("%d sendMessage calls, want 4 (2 chats × 2 events)", len(calls))
	}
	var chats []string
	for _, c := range calls {
		chats = append(chats, c.params["chat_id"].(string))
		if c.params["parse_mode"] != "HTML" {
			t.Errorf("parse_mode = %v", c.params["parse_mode"])
		}
	}
	slices.Sort(chats)
	if want := []string{"-1001234567890", "-1001234567890", "@csirt_purworejo", "@csirt_purworejo"}; !slices.Equal(chats, want) {
		t.Fatalf("chats %v, want %v", chats, want)
	}
	var opened, acked botCall
	for _, c := range calls {
		if strings.Contains(c.params["text"].(string), "Ditangani oleh") {
			acked = c
		} else {
			opened = c
		}
	}
	text, _ := opened.params["text"].(string)
	for _, want := range []string{
		"🔴 <b>Desa Krandegan &lt;i&gt;Lor&lt;/i&gt; &amp; &#34;Kidul&#34;</b> (Kec. Bayan, Kabupaten Purworejo) PUTUS sejak 12.03 WIB",
		"Tingkat: <b>KRITIS</b>",
		"CSIRT: CSIRT Kabupaten Purworejo",
		"desa 3T/miskin ekstrem",
		"Bukti: <i>loss: 100%; probe: tidak ada laporan 5 menit</i>",
		`<a href="https://jagadesa.example/incidents/inc-20260303-0001">`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("opened message lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "<i>Lor</i>") || strings.Contains(text, "& \"") {
		t.Errorf("the village name went out unescaped:\n%s", text)
	}
	kb, _ := json.Marshal(opened.params["reply_markup"])
	if want := `{"inline_keyboard":[[{"callback_data":"ack:inc-20260303-0001","text":"Tangani (ack)"}]]}`; string(kb) != want {
		t.Errorf("opened reply_markup = %s, want %s", kb, want)
	}
	if _, ok := acked.params["reply_markup"]; ok {
		t.Errorf("acknowledged message still has a button: %v", acked.params["reply_markup"])
	}
	if text := acked.params["text"].(string); !strings.Contains(text, "👷") || !strings.Contains(text, "budi@purworejokab.go.id") {
		t.Errorf("acknowledged message:\n%s", text)
	}
}

func TestTelegramFloodWaitIsHonoured(t *testing.T) {
	b := newFakeBot(t, func(method string, n int, _ map[string]any) (int, any) {
		if n == 1 {
			return tgError(429, "Too Many Requests: retry after 1", 1)
		}
		return 200, map[string]any{"ok": true, "result": map[string]any{"message_id": 7}}
	})
	d := New(botSettings(b), nil, WithRetry(fastRetry))
	d.Send(jagadesa.Channels{Telegram: []jagadesa.TelegramChat{{ChatID: "42"}}}, krandegan("opened"))
	closeNow(t, d)
	calls := b.callsTo("sendMessage")
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2", len(calls))
	}
	if gap := calls[1].at.Sub(calls[0].at); gap < 950*time.Millisecond {
		t.Fatalf("retried after %s, want ≥ 1 s (retry_after: 1)", gap)
	}
	if n := testutil.ToFloat64(d.sent.WithLabelValues(ChannelTelegram)); n != 1 {
		t.Fatalf("sent = %v, want 1", n)
	}
}

func TestTelegramPermanentErrors(t *testing.T) {
	for _, tt := range []struct {
		code int
		desc string
		want int // attempts
	}{
		{400, "Bad Request: chat not found", 1},
		{403, "Forbidden: bot was kicked from the group chat", 1},
		{500, "Internal Server Error", 3},
		{502, "Bad Gateway", 3},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			b := newFakeBot(t, func(string, int, map[string]any) (int, any) { return tgError(tt.code, tt.desc, 0) })
			logger, logs := testLogger(t)
			d := New(botSettings(b), logger, WithRetry(fastRetry))
			d.Send(jagadesa.Channels{Telegram: []jagadesa.TelegramChat{{ChatID: "42"}}}, krandegan("opened"))
			closeNow(t, d)
			if n := len(b.callsTo("sendMessage")); n != tt.want {
				t.Fatalf("%d attempts, want %d", n, tt.want)
			}
			if !strings.Contains(logs.String(), tt.desc) {
				t.Fatalf("the API's description is not in the log:\n%s", logs)
			}
		})
	}
}

// TestSecretsNeverLogged fails every channel in ways that put URLs and
// server answers in errors, and checks no secret reaches the log.
func TestSecretsNeverLogged(t *testing.T) {
	// A port nobody listens on: Go's error then quotes the whole URL, the
	// bot token included.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()

	const (
		webhookSecret = "whsec-do-not-log"
		smtpPassword  = "smtp-pass-do-not-log"
	)
	settings := Settings{
		Telegram: TelegramBot{Token: testToken, APIBase: dead},
		SMTP:     SMTPServer{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, Username: "jagadesa", Password: smtpPassword, From: "jagadesa@example.go.id"},
	}
	logger, logs := testLogger(t)
	d := New(settings, logger, WithRetry(RetryPolicy{Attempts: 2, Initial: time.Millisecond, Max: time.Millisecond, AttemptTimeout: 2 * time.Second}))
	d.Send(jagadesa.Channels{
		Webhooks:     []jagadesa.Webhook{{URL: dead + "/hook/" + webhookSecret, Secret: webhookSecret}},
		Alertmanager: []string{dead},
		Telegram:     []jagadesa.TelegramChat{{ChatID: "42"}},
		Email:        []string{"csirt@example.go.id"},
	}, krandegan("opened"))
	closeNow(t, d)

	out := logs.String()
	if !strings.Contains(out, "telegram sendMessage") || !strings.Contains(out, "connection refused") {
		t.Fatalf("the Telegram failure is not logged, so the check below proves nothing:\n%s", out)
	}
	for _, ch := range channels {
		if testutil.ToFloat64(d.failed.WithLabelValues(ch)) != 1 {
			t.Errorf("%s did not fail as arranged", ch)
		}
	}
	for name, secret := range map[string]string{
		"bot token": testToken, "bot token's secret part": strings.SplitN(testToken, ":", 2)[1],
		"webhook secret": webhookSecret, "SMTP password": smtpPassword,
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the %s is in the log:\n%s", name, out)
		}
	}
}

func TestTelegramErrorsAreRedacted(t *testing.T) {
	api := telegramAPI{bot: TelegramBot{Token: testToken, APIBase: "http://127.0.0.1:1"}, client: http.DefaultClient}
	err := api.call(context.Background(), "sendMessage", map[string]string{"chat_id": "1"}, nil)
	if err == nil {
		t.Fatal("a call to a closed port succeeded")
	}
	if strings.Contains(err.Error(), testToken) || !strings.Contains(err.Error(), "[REDACTED]") {
		t.Fatalf("error text: %v", err)
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.Contains(e.Error(), testToken) {
			t.Fatalf("the token is reachable by unwrapping: %v", e)
		}
	}
}

func TestTelegramUpdatesAcknowledges(t *testing.T) {
	update := func(id int64, from map[string]any, chat int64, data string) map[string]any {
		return map[string]any{"update_id": id, "callback_query": map[string]any{
			"id": fmt.Sprint("cb-", id), "from": from, "data": data,
			"message": map[string]any{"message_id": 1, "chat": map[string]any{"id": chat, "type": "supergroup"}},
		}}
	}
	var offsets []float64
	var mu sync.Mutex
	polled := make(chan struct{}, 10)
	b := newFakeBot(t, func(method string, n int, p map[string]any) (int, any) {
		if method != "getUpdates" {
			return 200, nil
		}
		mu.Lock()
		offsets = append(offsets, p["offset"].(float64))
		mu.Unlock()
		switch n {
		case 1:
			return tgError(502, "Bad Gateway", 0) // backoff, then poll again
		case 2:
			return 200, map[string]any{"ok": true, "result": []any{
				update(100, map[string]any{"id": 7, "is_bot": false, "first_name": "Budi", "username": "budi_csirt"}, -1001, "ack:inc-1"),
				update(101, map[string]any{"id": 42, "is_bot": false, "first_name": "Sri"}, -1001, "ack:inc-missing"),
				update(102, map[string]any{"id": 43, "is_bot": false, "first_name": "Eve"}, -2002, "ack:inc-1"),
				update(103, map[string]any{"id": 7, "is_bot": false, "username": "budi_csirt"}, -1001, "something-else"),
			}}
		}
		polled <- struct{}{}
		return 200, map[string]any{"ok": true, "result": []any{}}
	})
	type ack struct{ id, team, by string }
	var acks []ack
	u := &TelegramUpdates{
		Bot: TelegramBot{Token: testToken, APIBase: b.srv.URL},
		Ack: func(ctx context.Context, id, team, by string) error {
			acks = append(acks, ack{id, team, by})
			if id == "inc-missing" {
				return errors.New("insiden tidak ditemukan")
			}
			return nil
		},
		PollTimeout: time.Second,
		ChatTeams:   map[string]string{"-1001": "CSIRT Kabupaten Purworejo"},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	select {
	case <-polled:
	case <-time.After(10 * time.Second):
		t.Fatal("the poller never came back after the updates")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}

	if want := []ack{{"inc-1", "CSIRT Kabupaten Purworejo", "telegram:@budi_csirt"}, {"inc-missing", "CSIRT Kabupaten Purworejo", "telegram:42"}}; !slices.Equal(acks, want) {
		t.Fatalf("acks %v, want %v (the chat -2002 is not allowed)", acks, want)
	}
	mu.Lock()
	if len(offsets) < 3 || offsets[0] != 0 || offsets[1] != 0 || offsets[2] != 104 {
		t.Fatalf("getUpdates offsets %v, want 0, 0 (after the error), then 104", offsets)
	}
	mu.Unlock()
	answers := map[string]string{}
	for _, c := range b.callsTo("answerCallbackQuery") {
		answers[c.params["callback_query_id"].(string)] = c.params["text"].(string)
	}
	want := map[string]string{
		"cb-100": "Insiden diterima",
		"cb-101": "Gagal: insiden tidak ditemukan",
		"cb-102": "Obrolan ini tidak berwenang menangani insiden",
		"cb-103": "Tombol tidak dikenal",
	}
	if len(answers) != len(want) {
		t.Fatalf("answers %v, want %v", answers, want)
	}
	for id, text := range want {
		if answers[id] != text {
			t.Errorf("answer to %s = %q, want %q", id, answers[id], text)
		}
	}
}

func TestTelegramButtonOnlyWhileOpen(t *testing.T) {
	for _, tt := range []struct {
		event  string
		state  jagadesa.IncidentState
		button bool
	}{
		{"opened", jagadesa.StateOpen, true},
		{"escalated", jagadesa.StateOpen, true},
		{"reminder", jagadesa.StateOpen, true},
		{"acknowledged", jagadesa.StateAcknowledged, false},
		{"reminder", jagadesa.StateAcknowledged, false},
		{"resolved", jagadesa.StateResolved, false},
	} {
		n := krandegan(tt.event)
		n.Incident.State = tt.state
		m := telegramMessage("1", n, "")
		if (m.ReplyMarkup != nil) != tt.button {
			t.Errorf("%s/%s: button %v, want %v", tt.event, tt.state, m.ReplyMarkup != nil, tt.button)
		}
	}
	n := krandegan("opened")
	n.Incident.ID = strings.Repeat("x", 61) // "ack:" + 61 > 64 bytes
	if m := telegramMessage("1", n, ""); m.ReplyMarkup != nil {
		t.Error("a button with callback data over Telegram's 64 bytes")
	}
}

package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

// TestTelegramTexts pins the Telegram message of each event; docs/notifications.md
// quotes these.
func TestTelegramTexts(t *testing.T) {
	want := map[string]string{
		"opened": `🔴 <b>Desa Krandegan</b> (Kec. Bayan, Kabupaten Purworejo) PUTUS sejak 12.03 WIB
Tingkat: <b>KRITIS</b> · Status: baru · CSIRT: CSIRT Kabupaten Purworejo
⚠️ <b>PRIORITAS: desa 3T/miskin ekstrem</b>
Bukti: <i>loss: 100%; probe: tidak ada laporan 5 menit</i>
<a href="https://jagadesa.example/incidents/inc-20260303-0001">Buka di dasbor JagaDesa</a>
<code>inc-20260303-0001</code>`,
		"resolved": `✅ <b>Desa Krandegan</b> (Kec. Bayan, Kabupaten Purworejo) PUTUS sejak 12.03 WIB
Selesai 12.41 WIB — lama gangguan 38 menit.
Tingkat: <b>KRITIS</b> · Status: selesai · CSIRT: CSIRT Kabupaten Purworejo
⚠️ <b>PRIORITAS: desa 3T/miskin ekstrem</b>
Bukti: <i>loss: 100%; probe: tidak ada laporan 5 menit</i>
<a href="https://jagadesa.example/incidents/inc-20260303-0001">Buka di dasbor JagaDesa</a>
<code>inc-20260303-0001</code>`,
	}
	for event, w := range want {
		got := render(telegramTmpl, newView(krandegan(event), ""))
		if got != w {
			t.Errorf("%s:\n got:\n%s\nwant:\n%s", event, got, w)
		}
	}
}

// TestEveryTemplateRenders runs every template for every kind and event,
// and checks the Indonesian names land in them.
func TestEveryTemplateRenders(t *testing.T) {
	kinds := []jagadesa.IncidentKind{jagadesa.IncidentDown, jagadesa.IncidentPowerCut, jagadesa.IncidentProbeFault,
		jagadesa.IncidentDegraded, jagadesa.IncidentSLABreach, jagadesa.IncidentRegional, jagadesa.IncidentSecurity}
	for _, kind := range kinds {
		for _, event := range []string{"opened", "escalated", "acknowledged", "resolved", "reminder"} {
			n := krandegan(event)
			n.Incident.Kind = kind
			v := newView(n, "")
			for name, out := range map[string]string{
				"telegram":   render(telegramTmpl, v),
				"email.txt":  render(emailTextTmpl, v),
				"email.html": render(emailHTMLTmpl, v),
				"subject":    emailSubject(n, v),
				"am":         amDescription(n, v),
			} {
				if !strings.Contains(strings.ToLower(out), strings.ToLower(KindName(kind))) {
					t.Errorf("%s/%s %s lacks %q:\n%s", kind, event, name, KindName(kind), out)
				}
				if strings.Contains(out, "<no value>") || strings.Contains(out, "%!") {
					t.Errorf("%s/%s %s has a template hole:\n%s", kind, event, name, out)
				}
			}
		}
	}
}

func TestNames(t *testing.T) {
	for k, want := range map[jagadesa.IncidentKind]string{
		jagadesa.IncidentDown: "putus", jagadesa.IncidentPowerCut: "padam listrik", jagadesa.IncidentProbeFault: "gangguan probe",
		jagadesa.IncidentDegraded: "terganggu", jagadesa.IncidentSLABreach: "di bawah kontrak (SLA)",
		jagadesa.IncidentRegional: "gangguan wilayah", jagadesa.IncidentSecurity: "insiden keamanan",
	} {
		if got := KindName(k); got != want {
			t.Errorf("KindName(%s) = %q, want %q", k, got, want)
		}
	}
	for e, want := range map[string]string{"opened": "baru", "escalated": "dieskalasi", "acknowledged": "ditangani", "resolved": "selesai"} {
		if got := EventName(e); got != want {
			t.Errorf("EventName(%s) = %q, want %q", e, got, want)
		}
	}
}

func TestRegionalPlace(t *testing.T) {
	n := krandegan("opened")
	n.Incident.Kind = jagadesa.IncidentRegional
	n.Incident.Villages = []string{"33.06.08.2007", "33.06.08.2008", "33.06.09.2001"}
	n.Villages = append(n.Villages,
		jagadesa.Village{Code: "33.06.08.2008", Name: "Bayan", Kind: "desa", District: "Bayan", Regency: "Kabupaten Purworejo"},
		jagadesa.Village{Code: "33.06.09.2001", Name: "Kutoarjo", Kind: "kelurahan", District: "Kutoarjo", Regency: "Kabupaten Purworejo"})
	v := newView(n, "")
	if v.Place != "3 desa" || v.Area != "Kabupaten Purworejo" || v.Names != "Desa Krandegan, Desa Bayan, Kelurahan Kutoarjo" {
		t.Fatalf("place %q, area %q, names %q", v.Place, v.Area, v.Names)
	}
	if s := emailSubject(n, v); s != "[JagaDesa][KRITIS] 3 desa gangguan wilayah — CSIRT Kabupaten Purworejo" {
		t.Fatalf("subject %q", s)
	}
}

func TestClockAndDuration(t *testing.T) {
	ref := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC) // 17.00 WIB
	for _, tt := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 3, 3, 5, 3, 0, 0, time.UTC), "12.03 WIB"},
		{time.Date(2026, 3, 2, 18, 0, 0, 0, time.UTC), "01.00 WIB"},        // same WIB day, previous UTC day
		{time.Date(2026, 3, 2, 16, 59, 0, 0, time.UTC), "23.59 WIB 2 Mar"}, // previous WIB day
		{time.Date(2025, 8, 17, 3, 0, 0, 0, time.UTC), "10.00 WIB 17 Agu"},
	} {
		if got := clock(tt.t, ref); got != tt.want {
			t.Errorf("clock(%s) = %q, want %q", tt.t, got, tt.want)
		}
	}
	for d, want := range map[time.Duration]string{
		20 * time.Second: "kurang dari 1 menit", 38 * time.Minute: "38 menit",
		2 * time.Hour: "2 jam", 2*time.Hour + 5*time.Minute: "2 jam 5 menit",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []string // substrings; none means valid
	}{
		{"good channels", jagadesa.Channels{
			Webhooks: []jagadesa.Webhook{{URL: "https://csirt.example/hook", Secret: "k"}}, Alertmanager: []string{"http://am:9093"},
			Telegram: []jagadesa.TelegramChat{{ChatID: "-1001234"}, {ChatID: "@csirt"}}, Email: []string{"CSIRT <csirt@purworejokab.go.id>"},
		}.Validate(), nil},
		{"bad channels", jagadesa.Channels{
			Webhooks: []jagadesa.Webhook{{URL: "ftp://x"}, {URL: ""}}, Alertmanager: []string{"am:9093"},
			Telegram: []jagadesa.TelegramChat{{ChatID: "csirt"}, {}}, Email: []string{"not an address"},
		}.Validate(), []string{"webhooks[0]: url scheme \"ftp\"", "webhooks[1]: url is empty", "alertmanager[0]", "telegram[0]", "telegram[1]: chat_id is empty", "email[0]: invalid address"}},
		{"good settings", Settings{
			Telegram: TelegramBot{Token: "123:abc-DEF"}, DashboardURL: "https://jagadesa.example",
			SMTP: SMTPServer{Host: "smtp.jatengprov.go.id", Username: "u", Password: "p", From: "JagaDesa <jagadesa@jatengprov.go.id>"},
		}.Validate(), nil},
		{"empty settings", Settings{}.Validate(), nil},
		{"bad settings", Settings{
			Telegram:     TelegramBot{Token: "nocolon-secretvalue", APIBase: "telegram"},
			DashboardURL: "/relative",
			SMTP:         SMTPServer{Host: "smtp://x:25", TLS: "ssl", Username: "u", From: "bad"},
		}.Validate(), []string{"telegram: token is not of the form", "api_base", "dashboard_url", "smtp: host", "tls \"ssl\"", "username and password", "from: invalid"}},
		{"password in clear refused", SMTPServer{Host: "relay", TLS: "none", Username: "u", Password: "p", From: "a@b.c"}.Validate(), []string{"in clear"}},
		{"check: missing bot and relay", Settings{}.Check(jagadesa.Channels{Telegram: []jagadesa.TelegramChat{{ChatID: "1"}}, Email: []string{"a@b.c"}}), []string{"no bot token", "no SMTP host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.want) == 0 {
				if tt.err != nil {
					t.Fatalf("unexpected error: %v", tt.err)
				}
				return
			}
			if tt.err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(tt.err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, tt.err)
				}
			}
			if strings.Contains(tt.err.Error(), "secretvalue") {
				t.Errorf("the token is in the error: %v", tt.err)
			}
		})
	}
}

func TestDestinationLabelHidesWebhookPath(t *testing.T) {
	ds := dest{channel: ChannelWebhook, addr: "https://hooks.example/services/T000/B000/XXXXsecret?token=abc"}
	if l := ds.label(); l != "https://hooks.example/…" {
		t.Fatalf("label %q", l)
	}
}

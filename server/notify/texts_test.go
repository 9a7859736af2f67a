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

// TestEvidenceTexts: the server's evidence codes and numbers in Indonesian.
func TestEvidenceTexts(t *testing.T) {
	ref := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC) // 17.00 WIB
	villages := []jagadesa.Village{
		{Code: "33.19.05.2001", Name: "Jati Wetan", Kind: "desa", DistrictCode: "33.19.05", District: "Jati", RegencyCode: "33.19", Regency: "Kabupaten Kudus"},
		{Code: "33.19.05.2002", Name: "Loram", Kind: "kelurahan", DistrictCode: "33.19.05", District: "Jati", RegencyCode: "33.19", Regency: "Kabupaten Kudus"},
	}
	tests := []struct {
		name string
		ev   map[string]string
		want string
	}{
		{"silent", map[string]string{"reason": "silent", "silent_s": "17", "last_seen": "2026-03-03T09:47:12Z"},
			"tidak ada laporan selama 17 dtk; terakhir terlihat 16.47 WIB"},
		{"silent for long", map[string]string{"reason": "silent", "silent_s": "3725"}, "tidak ada laporan selama 1 jam 2 mnt"},
		{"silent minutes", map[string]string{"reason": "silent", "silent_s": "245"}, "tidak ada laporan selama 4 mnt 5 dtk"},
		{"silent seconds alone", map[string]string{"silent_s": "90"}, "tidak ada laporan selama 1 mnt 30 dtk"},
		{"unreachable", map[string]string{"reason": "unreachable"}, "semua tujuan ping tidak terjangkau"},
		{"loss", map[string]string{"reason": "loss", "loss_pct": "5.25", "rtt_ms": "23.4"},
			"packet loss di atas 2%; RTT 23,4 ms; loss 5,3%"},
		{"rtt", map[string]string{"reason": "rtt", "rtt_ms": "1234.56"}, "median RTT di atas 150 ms; RTT 1.234,6 ms"},
		{"baseline", map[string]string{"reason": "baseline", "anomaly": "rtt,jitter", "rtt_ms": "96", "normal_rtt_ms": "21.5",
			"jitter_ms": "30", "normal_jitter_ms": "2.1", "normal_loss_pct": "0"},
			"menyimpang dari kebiasaan desa pada jam ini; menyimpang: RTT, jitter; RTT 96 ms (biasanya 21,5 ms); loss biasanya 0%; jitter 30 ms (biasanya 2,1 ms)"},
		{"throughput", map[string]string{"download_pct_of_contract": "42.5"}, "unduh 42,5% dari kontrak"},
		{"cause", map[string]string{"reason": "silent", "silent_s": "600", "cause": "power"}, "tidak ada laporan selama 10 mnt; penyebab: padam listrik"},
		{"regional", map[string]string{"group": "district:33.19.05", "cause:33.19.05.2002": "link", "cause:33.19.05.2001": "power"},
			"wilayah: kecamatan Jati, Kabupaten Kudus; penyebab di Desa Jati Wetan: padam listrik; penyebab di Kelurahan Loram: putus jaringan"},
		{"regency", map[string]string{"group": "regency:33.19"}, "wilayah: Kabupaten Kudus"},
		{"isp", map[string]string{"group": "isp:telkom indonesia"}, "wilayah: ISP telkom indonesia"},
		{"attack campaign", map[string]string{"group": "source:203.0.113.9", "source": "203.0.113.9"}, "wilayah: serangan dari 203.0.113.9"},
		{"source alone", map[string]string{"source": "203.0.113.9"}, "sumber: 203.0.113.9"},
		{"unknown codes and keys as they are", map[string]string{"reason": "solar_flare", "cause": "goats", "zeta": "1", "alpha": "x", "rtt_ms": "fast"},
			"alasan: solar_flare; RTT fast ms; penyebab: goats; alpha: x; zeta: 1"},
		{"empty values left out", map[string]string{"reason": "", "rtt_ms": ""}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := evidence(tt.ev, villages, ref); got != tt.want {
				t.Fatalf("\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestNumber(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "2.5": "2,5", "2.04": "2", "99.96": "100", "1234.5": "1.234,5", "1234567": "1.234.567", "-3.25": "-3,3", "n/a": "n/a",
	} {
		if got := number(in); got != want {
			t.Errorf("number(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSignalSummary(t *testing.T) {
	sig := func(kind string, sev jagadesa.Severity, count int) jagadesa.Signal {
		return jagadesa.Signal{Kind: kind, Severity: sev, Count: count, Source: "198.51.100.7", Message: "<b>probe words</b>"}
	}
	tests := []struct {
		name    string
		signals []jagadesa.Signal
		dropped int
		want    string
	}{
		{"none", nil, 0, ""},
		{"one", []jagadesa.Signal{sig("login_bruteforce", jagadesa.SeverityWarning, 40)}, 0, "1 jenis: percobaan login beruntun (40×)"},
		{"the most severe first, then the most seen, one line per kind", []jagadesa.Signal{
			sig("port_opened", jagadesa.SeverityWarning, 1),
			sig("login_new_source", jagadesa.SeverityWarning, 2),
			sig("login_new_source", jagadesa.SeverityWarning, 3),
			sig("config_changed", jagadesa.SeverityCritical, 1),
			sig("threat_ip", jagadesa.SeverityWarning, 4),
		}, 0, "4 jenis: konfigurasi router berubah (1×), login dari alamat baru (5×), koneksi ke alamat berbahaya (4×), +1 lainnya"},
		{"unknown kind as it is, and what was dropped", []jagadesa.Signal{sig("new_kind", jagadesa.SeverityWarning, 0)}, 12,
			"1 jenis: new_kind (1×); 12 sinyal lain tidak disimpan"},
		{"only dropped", nil, 3, "3 sinyal tidak disimpan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := signalSummary(tt.signals, tt.dropped); got != tt.want {
				t.Fatalf("\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
	for kind := range jagadesa.SecurityKinds {
		if SignalKindName(kind) == kind {
			t.Errorf("signal kind %s has no Indonesian name", kind)
		}
	}
}

// A security incident's notifications carry the signal summary in every
// template, and the probe's own words in none.
func TestSignalsInTemplates(t *testing.T) {
	n := krandegan("opened")
	n.Incident.Kind, n.Incident.Severity = jagadesa.IncidentSecurity, jagadesa.SeverityCritical
	n.Incident.Evidence = map[string]string{"source": "198.51.100.7"}
	n.Incident.Signals = []jagadesa.Signal{{Kind: "login_bruteforce", Severity: jagadesa.SeverityWarning, Count: 40,
		Source: "198.51.100.7", Message: "<script>x</script>", Attrs: map[string]string{"user": "root"}}}
	v := newView(n, "")
	for name, out := range map[string]string{
		"telegram":   render(telegramTmpl, v),
		"email.txt":  render(emailTextTmpl, v),
		"email.html": render(emailHTMLTmpl, v),
		"am":         amDescription(n, v),
	} {
		if !strings.Contains(out, "percobaan login beruntun (40×)") || !strings.Contains(out, "sumber: 198.51.100.7") {
			t.Errorf("%s lacks the signals or the source:\n%s", name, out)
		}
		if strings.Contains(out, "script") || strings.Contains(out, "root") {
			t.Errorf("%s carries the probe's words:\n%s", name, out)
		}
	}
}

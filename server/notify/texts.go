package notify

// Every word a person reads in a notification is in this file, in Bahasa
// Indonesia. The HTML templates (Telegram, e-mail) are html/template so
// place names and evidence are escaped wherever they land; Telegram's
// parser accepts the numeric entities html/template writes.

import (
	"cmp"
	"fmt"
	htmltemplate "html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/jagadesa/jagadesa"
)

// wib is Waktu Indonesia Barat. Jakarta has kept UTC+7 without daylight
// saving since 1964, so a fixed zone is exact and needs no tzdata on the
// server.
var wib = time.FixedZone("WIB", 7*3600)

var kindNames = map[jagadesa.IncidentKind]string{
	jagadesa.IncidentDown:       "putus",
	jagadesa.IncidentPowerCut:   "padam listrik",
	jagadesa.IncidentProbeFault: "gangguan probe",
	jagadesa.IncidentDegraded:   "terganggu",
	jagadesa.IncidentSLABreach:  "di bawah kontrak (SLA)",
	jagadesa.IncidentRegional:   "gangguan wilayah",
	jagadesa.IncidentSecurity:   "insiden keamanan",
}

// KindName is the Indonesian name of an incident kind ("putus").
func KindName(k jagadesa.IncidentKind) string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return string(k)
}

var eventNames = map[string]string{
	"opened":       "baru",
	"escalated":    "dieskalasi",
	"acknowledged": "ditangani",
	"resolved":     "selesai",
	"reminder":     "pengingat",
}

// EventName is the Indonesian name of a notification event ("baru").
func EventName(event string) string {
	if s, ok := eventNames[event]; ok {
		return s
	}
	return event
}

var severityNames = map[jagadesa.Severity]string{
	jagadesa.SeverityInfo:     "INFO",
	jagadesa.SeverityWarning:  "PERINGATAN",
	jagadesa.SeverityCritical: "KRITIS",
}

// SeverityName is the Indonesian label of a severity ("KRITIS").
func SeverityName(s jagadesa.Severity) string {
	if n, ok := severityNames[s]; ok {
		return n
	}
	return strings.ToUpper(string(s))
}

const (
	textPriority = "PRIORITAS: desa 3T/miskin ekstrem"
	textAckBtn   = "Tangani (ack)"
	textAckOK    = "Insiden diterima"
	textAckFail  = "Gagal: "
	textDenied   = "Obrolan ini tidak berwenang menangani insiden"
)

// view is a Notification made ready for people: every field a template
// needs, already in Indonesian and in WIB.
type view struct {
	Event      string // baru, dieskalasi, …
	Emoji      string
	Severity   string // KRITIS
	Kind       string // putus
	KindUpper  string // PUTUS
	Place      string // Desa Krandegan, or "12 desa"
	Area       string // Kec. Bayan, Kabupaten Purworejo
	Names      string // every village name, comma-separated
	Title      string
	Since      string // 12.03 WIB
	Until      string // 12.41 WIB, once resolved
	Duration   string // 38 menit
	CSIRT      string
	Priority   bool
	Escalated  bool
	AckedBy    string
	Evidence   string
	Signals    string // the probe's security signals in one line
	URL        string
	IncidentID string
}

func newView(n jagadesa.Notification, dashboard string) view {
	inc := n.Incident
	v := view{
		Event:      EventName(n.Event),
		Severity:   SeverityName(inc.Severity),
		Kind:       KindName(inc.Kind),
		KindUpper:  strings.ToUpper(KindName(inc.Kind)),
		Title:      inc.Title,
		CSIRT:      inc.CSIRT,
		Priority:   inc.Priority,
		Escalated:  inc.Escalated || n.Event == "escalated",
		AckedBy:    inc.AckedBy,
		IncidentID: inc.ID,
		URL:        incidentURL(n, dashboard),
	}
	ref := n.At
	if ref.IsZero() {
		ref = time.Now()
	}
	start := inc.StartedAt
	if start.IsZero() {
		start = inc.OpenedAt
	}
	if !start.IsZero() {
		v.Since = clock(start, ref)
	}
	end := inc.EndedAt
	if end == nil {
		end = inc.ResolvedAt
	}
	if end != nil && !start.IsZero() {
		v.Until = clock(*end, ref)
		v.Duration = duration(end.Sub(start))
	}
	v.Place, v.Area, v.Names = places(n)
	v.Emoji = emoji(n)
	v.Evidence = evidence(inc.Evidence, n.Villages, ref)
	v.Signals = signalSummary(inc.Signals, inc.SignalsDropped)
	return v
}

// incidentURL is the Notification's own link, else the dashboard's incident
// page built from the configured base.
func incidentURL(n jagadesa.Notification, dashboard string) string {
	if n.URL != "" {
		return n.URL
	}
	if dashboard == "" {
		return ""
	}
	return strings.TrimRight(dashboard, "/") + "/incidents/" + n.Incident.ID
}

func places(n jagadesa.Notification) (place, area, names string) {
	var all []string
	for _, v := range n.Villages {
		all = append(all, villageName(v))
	}
	codes := n.Incident.Villages
	count := max(len(codes), len(n.Villages))
	if count > 1 {
		// One village is already named in place; a list is for several.
		names = strings.Join(all, ", ")
	}
	switch {
	case count > 1:
		place = fmt.Sprintf("%d desa", count)
	case len(n.Villages) == 1:
		place = villageName(n.Villages[0])
	case len(codes) == 1:
		place = "Desa " + codes[0]
	case n.Incident.Village != "":
		place = "Desa " + n.Incident.Village
	default:
		place = n.Incident.Title
	}
	if len(n.Villages) > 0 {
		first := n.Villages[0]
		var parts []string
		if first.District != "" && sameDistrict(n.Villages) {
			parts = append(parts, "Kec. "+first.District)
		}
		if first.Regency != "" {
			parts = append(parts, first.Regency)
		}
		area = strings.Join(parts, ", ")
	}
	return place, area, names
}

func sameDistrict(vs []jagadesa.Village) bool {
	for _, v := range vs[1:] {
		if v.District != vs[0].District {
			return false
		}
	}
	return true
}

// villageName writes "Desa Krandegan" or "Kelurahan Kauman".
func villageName(v jagadesa.Village) string {
	name := v.Name
	if name == "" {
		name = v.Code
	}
	switch strings.ToLower(v.Kind) {
	case "kelurahan":
		return "Kelurahan " + name
	default:
		return "Desa " + name
	}
}

func emoji(n jagadesa.Notification) string {
	switch n.Event {
	case "resolved":
		return "✅"
	case "acknowledged":
		return "👷"
	case "escalated":
		return "⏫"
	case "reminder":
		return "🔔"
	}
	switch n.Incident.Severity {
	case jagadesa.SeverityCritical:
		return "🔴"
	case jagadesa.SeverityWarning:
		return "🟠"
	}
	return "🔵"
}

// clock writes t as "12.03 WIB", with the date when it is not ref's day.
func clock(t, ref time.Time) string {
	t, ref = t.In(wib), ref.In(wib)
	s := fmt.Sprintf("%02d.%02d WIB", t.Hour(), t.Minute())
	if t.YearDay() != ref.YearDay() || t.Year() != ref.Year() {
		s += fmt.Sprintf(" %d %s", t.Day(), months[t.Month()-1])
	}
	return s
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"}

func duration(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Minute:
		return "kurang dari 1 menit"
	case d < time.Hour:
		return fmt.Sprintf("%d menit", int(d.Minutes()))
	case d%time.Hour == 0:
		return fmt.Sprintf("%d jam", int(d.Hours()))
	}
	return fmt.Sprintf("%d jam %d menit", int(d.Hours()), int(d.Minutes())%60)
}

// evidence puts the server's evidence keys (docs/incidents.md) in words, the
// known ones in a fixed order and any other as "key: value", short enough
// for a chat. Values are codes and numbers; one that is not what its key
// promises is shown as it is.
func evidence(ev map[string]string, villages []jagadesa.Village, ref time.Time) string {
	var parts []string
	done := map[string]bool{}
	take := func(k string) (string, bool) {
		v, ok := ev[k]
		done[k] = true
		return v, ok && v != ""
	}
	if r, ok := take("reason"); ok {
		silent, _ := take("silent_s")
		parts = append(parts, reasonText(r, silent))
	} else if s, ok := take("silent_s"); ok {
		parts = append(parts, reasonText("silent", s))
	}
	if a, ok := take("anomaly"); ok {
		var names []string
		for _, x := range strings.Split(a, ",") {
			names = append(names, metricName(strings.TrimSpace(x)))
		}
		parts = append(parts, "menyimpang: "+strings.Join(names, ", "))
	}
	for _, m := range []struct{ key, label, unit string }{
		{"rtt_ms", "RTT", " ms"}, {"loss_pct", "loss", "%"}, {"jitter_ms", "jitter", " ms"},
	} {
		now, hasNow := take(m.key)
		normal, hasNormal := take("normal_" + m.key)
		switch {
		case hasNow && hasNormal:
			parts = append(parts, m.label+" "+number(now)+m.unit+" (biasanya "+number(normal)+m.unit+")")
		case hasNow:
			parts = append(parts, m.label+" "+number(now)+m.unit)
		case hasNormal:
			parts = append(parts, m.label+" biasanya "+number(normal)+m.unit)
		}
	}
	if d, ok := take("download_pct_of_contract"); ok {
		parts = append(parts, "unduh "+number(d)+"% dari kontrak")
	}
	if c, ok := take("cause"); ok {
		parts = append(parts, "penyebab: "+causeName(c))
	}
	if ls, ok := take("last_seen"); ok {
		if t, err := time.Parse(time.RFC3339, ls); err == nil {
			ls = clock(t, ref)
		}
		parts = append(parts, "terakhir terlihat "+ls)
	}
	if g, ok := take("group"); ok {
		parts = append(parts, "wilayah: "+groupText(g, villages))
		if src, ok := take("source"); ok && g != "source:"+src {
			parts = append(parts, "sumber: "+src)
		}
	} else if src, ok := take("source"); ok {
		parts = append(parts, "sumber: "+src)
	}
	for _, k := range slices.Sorted(maps.Keys(ev)) {
		if done[k] || ev[k] == "" {
			continue
		}
		if code, ok := strings.CutPrefix(k, "cause:"); ok {
			parts = append(parts, "penyebab di "+villageByCode(code, villages)+": "+causeName(ev[k]))
			continue
		}
		parts = append(parts, k+": "+ev[k])
	}
	s := strings.Join(parts, "; ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

// reasonText is a status reason code in words; silent takes the seconds
// of silence.
func reasonText(code, silentS string) string {
	switch code {
	case "no_report_yet":
		return "belum pernah ada laporan"
	case "silent":
		if n, err := strconv.ParseFloat(silentS, 64); err == nil && n >= 0 {
			return "tidak ada laporan selama " + shortDuration(time.Duration(n)*time.Second)
		}
		return "tidak ada laporan"
	case "unreachable":
		return "semua tujuan ping tidak terjangkau"
	case "loss":
		return "packet loss di atas 2%"
	case "rtt":
		return "median RTT di atas 150 ms"
	case "baseline":
		return "menyimpang dari kebiasaan desa pada jam ini"
	}
	return "alasan: " + code
}

func metricName(m string) string {
	switch m {
	case "rtt":
		return "RTT"
	case "loss":
		return "loss"
	case "jitter":
		return "jitter"
	}
	return m
}

func causeName(c string) string {
	switch c {
	case "link":
		return "putus jaringan"
	case "power":
		return "padam listrik"
	case "probe":
		return "gangguan probe"
	}
	return c
}

// groupText names a regional group key: district:<code>, regency:<code>,
// isp:<name> or source:<address>.
func groupText(g string, villages []jagadesa.Village) string {
	kind, val, _ := strings.Cut(g, ":")
	switch kind {
	case "district":
		for _, v := range villages {
			if v.DistrictCode == val && v.District != "" {
				return "kecamatan " + v.District + ", " + v.Regency
			}
		}
		return "kecamatan " + val
	case "regency":
		for _, v := range villages {
			if v.RegencyCode == val && v.Regency != "" {
				return v.Regency
			}
		}
		return "kabupaten/kota " + val
	case "isp":
		return "ISP " + val
	case "source":
		return "serangan dari " + val
	}
	return g
}

func villageByCode(code string, villages []jagadesa.Village) string {
	for _, v := range villages {
		if v.Code == code {
			return villageName(v)
		}
	}
	return "desa " + code
}

// number writes a decimal number the Indonesian way (1.234,5), at most one
// decimal; anything else stays as it is.
func number(s string) string {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return s
	}
	f = math.Round(f*10) / 10
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	whole, frac, _ := strings.Cut(strconv.FormatFloat(f, 'f', -1, 64), ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(r)
	}
	if frac != "" {
		b.WriteString("," + frac)
	}
	return sign + b.String()
}

// shortDuration writes a short span for evidence: "17 dtk", "4 mnt 5 dtk",
// "2 jam 3 mnt".
func shortDuration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	h, m, sec := s/3600, s%3600/60, s%60
	switch {
	case h > 0 && m > 0:
		return fmt.Sprintf("%d jam %d mnt", h, m)
	case h > 0:
		return fmt.Sprintf("%d jam", h)
	case m > 0 && sec > 0:
		return fmt.Sprintf("%d mnt %d dtk", m, sec)
	case m > 0:
		return fmt.Sprintf("%d mnt", m)
	}
	return fmt.Sprintf("%d dtk", sec)
}

// SignalKindName is the short Indonesian name of a security signal kind.
func SignalKindName(kind string) string { return jagadesa.SecurityKindShort(kind) }

var severityRank = map[jagadesa.Severity]int{jagadesa.SeverityCritical: 0, jagadesa.SeverityWarning: 1, jagadesa.SeverityInfo: 2}

func rankOf(s jagadesa.Severity) int {
	if r, ok := severityRank[s]; ok {
		return r
	}
	return len(severityRank)
}

// signalSummary is the probe's security signals in one line: how many kinds,
// and the three that matter most (the most severe, then the most seen), e.g.
// "4 jenis: percobaan login beruntun (40×), login dari alamat baru (3×),
// port baru terbuka (1×), +1 lainnya".
func signalSummary(signals []jagadesa.Signal, dropped int) string {
	type kind struct {
		name  string
		rank  int
		count int
	}
	byKind := map[string]*kind{}
	for _, sg := range signals {
		k := byKind[sg.Kind]
		if k == nil {
			k = &kind{name: SignalKindName(sg.Kind), rank: rankOf(sg.Severity)}
			byKind[sg.Kind] = k
		}
		k.rank = min(k.rank, rankOf(sg.Severity))
		k.count += max(sg.Count, 1)
	}
	if len(byKind) == 0 {
		if dropped > 0 {
			return fmt.Sprintf("%d sinyal tidak disimpan", dropped)
		}
		return ""
	}
	kinds := slices.SortedFunc(maps.Values(byKind), func(a, b *kind) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(b.count, a.count), cmp.Compare(a.name, b.name))
	})
	var top []string
	for _, k := range kinds[:min(3, len(kinds))] {
		top = append(top, fmt.Sprintf("%s (%d×)", k.name, k.count))
	}
	if rest := len(kinds) - len(top); rest > 0 {
		top = append(top, fmt.Sprintf("+%d lainnya", rest))
	}
	s := fmt.Sprintf("%d jenis: %s", len(kinds), strings.Join(top, ", "))
	if dropped > 0 {
		s += fmt.Sprintf("; %d sinyal lain tidak disimpan", dropped)
	}
	return s
}

// headline is the one-line summary: "Desa Krandegan putus", or with the
// event first once the incident has moved on ("Selesai: Desa Krandegan
// putus").
func (v view) headline(event string) string {
	h := v.Place + " " + v.Kind
	if event != "opened" && v.Event != "" {
		h = strings.ToUpper(v.Event[:1]) + v.Event[1:] + ": " + h
	}
	return h
}

// The templates. One line per fact so each is easy to reword.

var telegramTmpl = htmltemplate.Must(htmltemplate.New("telegram").Parse(
	`{{.Emoji}} <b>{{.Place}}</b>{{if .Area}} ({{.Area}}){{end}} {{.KindUpper}}{{if .Since}} sejak {{.Since}}{{end}}
{{- if eq .Event "selesai"}}
Selesai{{if .Until}} {{.Until}}{{end}}{{if .Duration}} — lama gangguan {{.Duration}}{{end}}.
{{- else if eq .Event "ditangani"}}
Ditangani{{if .AckedBy}} oleh {{.AckedBy}}{{end}}.
{{- else if eq .Event "dieskalasi"}}
Dieskalasi: belum ditangani tim CSIRT daerah.
{{- else if eq .Event "pengingat"}}
Pengingat: insiden masih terbuka.
{{- end}}
{{- if .Names}}
Desa: {{.Names}}{{end}}
Tingkat: <b>{{.Severity}}</b> · Status: {{.Event}} · CSIRT: {{.CSIRT}}
{{- if .Priority}}
⚠️ <b>` + textPriority + `</b>{{end}}
{{- if .Evidence}}
Bukti: <i>{{.Evidence}}</i>{{end}}
{{- if .Signals}}
Sinyal keamanan: {{.Signals}}{{end}}
{{- if .URL}}
<a href="{{.URL}}">Buka di dasbor JagaDesa</a>{{end}}
<code>{{.IncidentID}}</code>`))

var emailTextTmpl = texttemplate.Must(texttemplate.New("email.txt").Parse(
	`{{.Place}}{{if .Area}} ({{.Area}}){{end}} {{.Kind}}{{if .Since}} sejak {{.Since}}{{end}}.
{{if eq .Event "selesai"}}
Insiden selesai{{if .Until}} pada {{.Until}}{{end}}{{if .Duration}}; lama gangguan {{.Duration}}{{end}}.
{{else if eq .Event "ditangani"}}
Insiden ditangani{{if .AckedBy}} oleh {{.AckedBy}}{{end}}.
{{else if eq .Event "dieskalasi"}}
Insiden dieskalasi karena belum ditangani tim CSIRT daerah.
{{else if eq .Event "pengingat"}}
Pengingat: insiden masih terbuka.
{{end}}
Insiden:   {{.IncidentID}}
Judul:     {{.Title}}
Status:    {{.Event}}
Tingkat:   {{.Severity}}
CSIRT:     {{.CSIRT}}
{{- if .Names}}
Desa:      {{.Names}}{{end}}
{{- if .Priority}}
` + textPriority + `{{end}}
{{- if .Evidence}}
Bukti:     {{.Evidence}}{{end}}
{{- if .Signals}}
Sinyal:    {{.Signals}}{{end}}
{{- if .URL}}

Buka di dasbor: {{.URL}}{{end}}

-- 
Pesan otomatis JagaDesa, pemantau internet desa.
`))

var emailHTMLTmpl = htmltemplate.Must(htmltemplate.New("email.html").Parse(`<!DOCTYPE html>
<html lang="id"><head><meta charset="utf-8"><title>{{.Place}} {{.Kind}}</title></head>
<body style="font-family:sans-serif">
<p style="font-size:1.2em">{{.Emoji}} <b>{{.Place}}</b>{{if .Area}} ({{.Area}}){{end}} {{.Kind}}{{if .Since}} sejak {{.Since}}{{end}}.</p>
{{- if eq .Event "selesai"}}
<p>Insiden selesai{{if .Until}} pada {{.Until}}{{end}}{{if .Duration}}; lama gangguan {{.Duration}}{{end}}.</p>
{{- else if eq .Event "ditangani"}}
<p>Insiden ditangani{{if .AckedBy}} oleh {{.AckedBy}}{{end}}.</p>
{{- else if eq .Event "dieskalasi"}}
<p>Insiden dieskalasi karena belum ditangani tim CSIRT daerah.</p>
{{- else if eq .Event "pengingat"}}
<p>Pengingat: insiden masih terbuka.</p>
{{- end}}
<table cellpadding="4">
<tr><th align="left">Insiden</th><td><code>{{.IncidentID}}</code></td></tr>
<tr><th align="left">Judul</th><td>{{.Title}}</td></tr>
<tr><th align="left">Status</th><td>{{.Event}}</td></tr>
<tr><th align="left">Tingkat</th><td><b>{{.Severity}}</b></td></tr>
<tr><th align="left">CSIRT</th><td>{{.CSIRT}}</td></tr>
{{- if .Names}}
<tr><th align="left">Desa</th><td>{{.Names}}</td></tr>{{end}}
{{- if .Evidence}}
<tr><th align="left">Bukti</th><td>{{.Evidence}}</td></tr>{{end}}
{{- if .Signals}}
<tr><th align="left">Sinyal keamanan</th><td>{{.Signals}}</td></tr>{{end}}
</table>
{{- if .Priority}}
<p><b>` + textPriority + `</b></p>{{end}}
{{- if .URL}}
<p><a href="{{.URL}}">Buka di dasbor JagaDesa</a></p>{{end}}
<p style="color:#666">Pesan otomatis JagaDesa, pemantau internet desa.</p>
</body></html>
`))

// emailSubject: "[JagaDesa][KRITIS] Desa Krandegan putus — JatengProv-CSIRT".
func emailSubject(n jagadesa.Notification, v view) string {
	s := fmt.Sprintf("[JagaDesa][%s] %s", v.Severity, v.headline(n.Event))
	if v.CSIRT != "" {
		s += " — " + v.CSIRT
	}
	return s
}

// amDescription is the Alertmanager description annotation: plain text.
func amDescription(n jagadesa.Notification, v view) string {
	var b strings.Builder
	b.WriteString(v.Place)
	if v.Area != "" {
		b.WriteString(" (" + v.Area + ")")
	}
	b.WriteString(" " + v.Kind)
	if v.Since != "" {
		b.WriteString(" sejak " + v.Since)
	}
	b.WriteString(". Status: " + v.Event + ".")
	if v.Until != "" {
		b.WriteString(" Selesai " + v.Until + ", lama gangguan " + v.Duration + ".")
	}
	if v.AckedBy != "" {
		b.WriteString(" Ditangani oleh " + v.AckedBy + ".")
	}
	if v.Priority {
		b.WriteString(" " + textPriority + ".")
	}
	if v.Evidence != "" {
		b.WriteString(" Bukti: " + v.Evidence)
	}
	if v.Signals != "" {
		if v.Evidence != "" {
			b.WriteString(".")
		}
		b.WriteString(" Sinyal keamanan: " + v.Signals)
	}
	return b.String()
}

// executor is what text/template and html/template templates share.
type executor interface {
	Execute(w io.Writer, data any) error
}

func render(t executor, v view) string {
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		// The templates are fixed and the view has every field they use,
		// so this is a programming error; tests execute every template.
		panic(err)
	}
	return b.String()
}

package evidence

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa/server/sla"
)

// The texts of an evidence pack: how to verify it (Bahasa Indonesia and
// English), the SLA arithmetic with the month's numbers, the outage list,
// and verify.sh. Everything here depends only on the plan, so that the
// same inputs give the same bytes.

// verifyScript checks every batch with OpenSSL alone. It is the same in
// every pack: read once, trusted everywhere. It uses nothing but POSIX sh
// builtins and openssl.
const verifyScript = `#!/bin/sh
# verify.sh: checks the Ed25519 signature of every batch of this JagaDesa
# evidence pack with OpenSSL alone (OpenSSL 3.0 or newer).
# verify.sh: memeriksa tanda tangan Ed25519 setiap batch paket bukti
# JagaDesa ini hanya dengan OpenSSL (OpenSSL 3.0 atau lebih baru).
#
#   sh verify.sh
#
# For each line of batches.csv it runs
#   openssl pkeyutl -verify -pubin -inkey KEY.pem -rawin -in BATCH.json -sigfile BATCH.sig
# and prints FAIL and the batch's name when it does not verify. It also
# fails when batches/ holds a .json file that batches.csv does not list.
# Exit status: 0 every batch verified; 1 a batch failed or is missing or
# unlisted; 2 it could not run (no openssl, no batches.csv).
# Status keluar: 0 semua batch terverifikasi; 1 ada batch yang gagal,
# hilang atau tidak tercantum; 2 tidak dapat dijalankan.

case $0 in */*) cd "${0%/*}" || exit 2 ;; esac
if ! command -v openssl >/dev/null 2>&1; then
	echo "verify.sh: openssl not found / openssl tidak ditemukan" >&2
	exit 2
fi
if [ ! -r batches.csv ]; then
	echo "verify.sh: no batches.csv here: run it in the unpacked pack / jalankan di folder paket" >&2
	exit 2
fi

ok=0
bad=0
{
	read -r header
	case $header in
	batch,key_file,*) ;;
	*)
		echo "verify.sh: batches.csv does not start with its header" >&2
		exit 2
		;;
	esac
	while IFS=, read -r batch key rest; do
		if openssl pkeyutl -verify -pubin -inkey "$key" -rawin \
			-in "$batch.json" -sigfile "$batch.sig" </dev/null >/dev/null 2>&1; then
			ok=$((ok + 1))
		else
			bad=$((bad + 1))
			echo "FAIL $batch.json (key $key)"
		fi
		if [ $(((ok + bad) % 1000)) -eq 0 ]; then
			echo "... $((ok + bad))" >&2
		fi
	done
} <batches.csv

files=0
for f in batches/*.json; do
	if [ -e "$f" ]; then
		files=$((files + 1))
	fi
done
unlisted=0
if [ "$files" -ne $((ok + bad)) ]; then
	unlisted=1
	echo "FAIL batches/ holds $files .json files but batches.csv lists $((ok + bad))"
fi

echo "$ok batches verified, $bad failed / $ok batch terverifikasi, $bad gagal"
if [ "$bad" -ne 0 ] || [ "$unlisted" -ne 0 ]; then
	exit 1
fi
exit 0
`

var bulan = [...]string{"Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November", "Desember"}

// when writes an instant in WIB: "1 November 2026 00.00 WIB" in Bahasa
// Indonesia, "1 November 2026 00:00 WIB" in English.
func when(t time.Time, id bool) string {
	t = t.In(sla.WIB)
	if id {
		return fmt.Sprintf("%d %s %d %02d.%02d WIB", t.Day(), bulan[t.Month()-1], t.Year(), t.Hour(), t.Minute())
	}
	return t.Format("2 January 2006 15:04 WIB")
}

func monthName(t time.Time, id bool) string {
	t = t.In(sla.WIB)
	if id {
		return fmt.Sprintf("%s %d", bulan[t.Month()-1], t.Year())
	}
	return t.Format("January 2006")
}

// num writes minutes as they are: whole numbers without decimals, with a
// decimal comma in Bahasa Indonesia. No thousands separators: 43200 reads
// the same in both languages.
func num(x float64, id bool) string {
	s := strconv.FormatFloat(x, 'f', -1, 64)
	if id {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

func pct(x float64, id bool) string {
	s := strconv.FormatFloat(x, 'f', 4, 64)
	if id {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s + "%"
}

// money writes rupiah with thousands separators: Rp 5.000.000 and
// IDR 5,000,000.
func money(n int64, id bool) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	sep := ","
	if id {
		sep = "."
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(c)
	}
	out := b.String()
	if neg {
		out = "-" + out
	}
	if id {
		return "Rp " + out
	}
	return "IDR " + out
}

func (pl *PackPlan) villageLabel() string {
	if pl.p.VillageName != "" {
		return pl.p.VillageName + " (" + pl.p.Village + ")"
	}
	return pl.p.Village
}

// computationText explains the month's figures, Bahasa Indonesia first.
func (pl *PackPlan) computationText() []byte {
	var b bytes.Buffer
	pl.computation(&b, true)
	b.WriteString("\n\n")
	pl.computation(&b, false)
	return b.Bytes()
}

func (pl *PackPlan) computation(b *bytes.Buffer, id bool) {
	r := pl.p.SLA
	say := func(indonesian, english string, a ...any) {
		if id {
			fmt.Fprintf(b, indonesian+"\n", a...)
		} else {
			fmt.Fprintf(b, english+"\n", a...)
		}
	}
	var counted, short, power int
	for _, o := range r.Outages {
		switch {
		case o.Cause == sla.CausePowerCut:
			power++
		case o.Counted:
			counted++
		default:
			short++
		}
	}
	t := r.TotalMin
	e := r.ExcludedMin
	d := r.DowntimeMin
	say("PERHITUNGAN SLA: desa %s, %s", "SLA COMPUTATION: village %s, %s", pl.villageLabel(), monthName(pl.start, id))
	say("Bulan: %s s.d. %s (%s menit kalender).", "Month: %s to %s (%s calendar minutes).",
		when(r.From, id), when(r.To, id), num(r.CalendarMin, id))
	b.WriteString("\n")
	say("Ketersediaan  A = (T − E − D) / (T − E) × 100%%", "Availability  A = (T − E − D) / (T − E) × 100%%")
	say("  T = menit bulan ini dikurangi menit tanpa data         = %s − %s = %s",
		"  T = minutes of the month less the minutes without data = %s − %s = %s",
		num(r.CalendarMin, id), num(r.UnknownMin, id), num(t, id))
	say("  E = menit dikecualikan (padam listrik %s, pemeliharaan %s, keadaan kahar %s) = %s",
		"  E = excluded minutes (power cut %s, maintenance %s, force majeure %s) = %s",
		num(r.Excluded.PowerCutMin, id), num(r.Excluded.MaintenanceMin, id), num(r.Excluded.ForceMajeureMin, id), num(e, id))
	say("  D = menit putus terhitung dalam bulan ini               = %s",
		"  D = counted downtime minutes in this month            = %s", num(d, id))
	say("      hanya gangguan link_down lebih dari 5 menit, dihitung utuh. Gangguan terhitung: %d;",
		"      only link_down outages longer than 5 minutes, counted whole. Counted outages: %d;", counted)
	say("      gangguan pendek (≤ 5 menit, tidak dihitung): %d, %s menit; padam listrik (dikecualikan): %d.",
		"      short outages (≤ 5 minutes, not counted): %d, %s minutes; power cuts (excluded): %d.",
		short, num(r.ShortOutageMin, id), power)
	if r.AvailabilityPct == nil {
		say("  A tidak dapat dihitung: T − E = 0 (tidak ada menit yang teramati di luar pengecualian).",
			"  A cannot be computed: T − E = 0 (no observed minute outside the exclusions).")
	} else {
		say("  A = (%s − %s − %s) / (%s − %s) × 100%% = %s / %s × 100%% = %s",
			"  A = (%s − %s − %s) / (%s − %s) × 100%% = %s / %s × 100%% = %s",
			num(t, id), num(e, id), num(d, id), num(t, id), num(e, id), num(t-e-d, id), num(t-e, id), pct(*r.AvailabilityPct, id))
		if r.AvailabilityVerdict == sla.Pass {
			say("  Target kontrak %s: terpenuhi (A ≥ target).", "  Contract target %s: met (A ≥ target).", pct(r.AvailabilityTargetPct, id))
		} else {
			say("  Target kontrak %s: TIDAK terpenuhi (A < target).", "  Contract target %s: NOT met (A < target).", pct(r.AvailabilityTargetPct, id))
		}
	}
	b.WriteString("\n")
	say("Restitusi = biaya bulanan × D ÷ menit kalender bulan ini, hanya bila A < target;",
		"Restitution = monthly fee × D ÷ calendar minutes of the month, only when A < target;")
	say("  dibulatkan setengah ke atas ke rupiah utuh.", "  rounded half up to whole rupiah.")
	switch {
	case r.MonthlyFeeIDR == nil:
		say("  Biaya bulanan tidak diketahui: restitusi tidak dapat dihitung.", "  The monthly fee is unknown: restitution cannot be computed.")
		if r.RestitutionDue {
			say("  A di bawah target, jadi restitusi terutang.", "  A is below the target, so restitution is owed.")
		}
	case r.AvailabilityPct == nil:
		say("  Tanpa A, restitusi tidak dapat dihitung.", "  Without A, restitution cannot be computed.")
	case !r.RestitutionDue:
		say("  A tidak di bawah target: tidak ada restitusi (%s).", "  A is not below the target: no restitution (%s).", money(0, id))
	default:
		idr := int64(0)
		if r.RestitutionIDR != nil {
			idr = *r.RestitutionIDR
		}
		say("  = %s × %s ÷ %s = %s", "  = %s × %s ÷ %s = %s", money(*r.MonthlyFeeIDR, id), num(d, id), num(r.CalendarMin, id), money(idr, id))
	}
	b.WriteString("\n")
	restore := map[bool]string{true: "lulus", false: "gagal"}
	if !id {
		restore = map[bool]string{true: "pass", false: "fail"}
	}
	if r.RestoreVerdict == sla.Pass || r.RestoreVerdict == sla.Fail {
		say("Waktu pemulihan: setiap gangguan terhitung pulih dalam 24 jam: %s; gangguan lebih dari 72 jam: %d.",
			"Time to restore: every counted outage restored within 24 hours: %s; outages over 72 hours: %d.",
			restore[r.RestoreVerdict == sla.Pass], r.FlaggedOutages)
	}
	say("Daftar gangguan: sla/outages.csv. Hasil lengkap: sla/result.json. Definisi: docs/sla.md JagaDesa.",
		"Outage list: sla/outages.csv. Full result: sla/result.json. Definitions: JagaDesa's docs/sla.md.")
}

// outagesCSV lists the month's outages: start and end in WIB (the whole
// outage, also across the month's boundary), minutes, the minutes in this
// month, cause, whether it counts, and the time to restore (link_down
// only) as hours:minutes:seconds.
func (pl *PackPlan) outagesCSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"start", "end", "minutes", "minutes_in_month", "cause", "counted", "time_to_restore"})
	for _, o := range pl.p.SLA.Outages {
		ttr := ""
		if o.TimeToRestoreH != nil {
			d := o.End.Sub(o.Start)
			ttr = fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
		}
		w.Write([]string{o.Start.In(sla.WIB).Format(time.RFC3339), o.End.In(sla.WIB).Format(time.RFC3339),
			num(o.Minutes, false), num(o.MinutesInMonth, false), string(o.Cause), strconv.FormatBool(o.Counted), ttr})
	}
	w.Flush()
	return b.Bytes()
}

// verifyText is VERIFIKASI.txt (id) or VERIFY.txt, with this pack's first
// batch and key in the examples, so that the commands run as they stand.
func (pl *PackPlan) verifyText(id bool) []byte {
	var b bytes.Buffer
	say := func(indonesian, english string, a ...any) {
		if id {
			fmt.Fprintf(&b, indonesian+"\n", a...)
		} else {
			fmt.Fprintf(&b, english+"\n", a...)
		}
	}
	batch, key, sig := "batches/NAME", "keys/PROBE_KEYID.pem", "BASE64"
	if len(pl.entries) > 0 {
		e := pl.entries[0]
		batch, key, sig = e.name, pl.keys[e.key].file, e.signature
	}
	say("PAKET BUKTI JAGADESA", "JAGADESA EVIDENCE PACK")
	say("Desa %s, bulan %s (WIB).", "Village %s, month %s (WIB).", pl.villageLabel(), monthName(pl.start, id))
	if id {
		b.WriteString("English: VERIFY.txt.\n\n")
	} else {
		b.WriteString("Bahasa Indonesia: VERIFIKASI.txt.\n\n")
	}
	say(`Paket ini berisi batch pengukuran yang dikirim probe JagaDesa di router desa, persis seperti
diterima server, masing-masing dengan tanda tangan Ed25519 dari kunci probe itu; kunci publik
probe; hasil SLA bulan ini dengan daftar gangguan dan perhitungannya; dan langkah untuk memeriksa
setiap tanda tangan hanya dengan OpenSSL, tanpa perangkat lunak JagaDesa.`,
		`This pack holds the measurement batches the JagaDesa probe on the village's router sent, exactly
as the server received them, each with its Ed25519 signature by that probe's key; the probes'
public keys; the month's SLA result with its outages and its arithmetic; and the steps to check
every signature with OpenSSL alone, without any JagaDesa software.`)
	b.WriteString("\n")
	say("  %d batch, %s byte.", "  %d batches, %s bytes.", len(pl.entries), strconv.FormatInt(pl.bodyBytes, 10))
	for _, k := range pl.keys {
		say("  Probe %s, kunci %s: %d batch (%s).", "  Probe %s, key %s: %d batches (%s).", k.probe, k.keyID, k.batches, k.file)
	}
	if n := len(pl.entries); n > 0 {
		say("  Diterima %s s.d. %s (UTC).", "  Received %s to %s (UTC).",
			pl.entries[0].received.Format(time.RFC3339), pl.entries[n-1].received.Format(time.RFC3339))
	}
	say(`  Dimuat setiap batch yang berisi pengukuran antara
    %s dan %s:
  bulan ini, diperluas sampai seluruh gangguan yang melewati awal atau akhir bulan, termasuk
  batch yang dikirim terlambat (probe yang terputus mengirim antreannya setelah tautan pulih).`,
		`  It holds every batch with a measurement between
    %s and %s:
  the month, widened to the whole of any outage crossing its start or end, including batches
  sent late (a probe that was cut off sends its backlog once the link is back).`,
		when(pl.spanFrom, id), when(pl.spanTo, id))
	b.WriteString("\n")
	say("ISI", "CONTENTS")
	say(`  batches/WAKTU_PROBE_AWAL-AKHIR.json  satu batch: laporan persis seperti ditandatangani probe
      (JSON, byte demi byte). WAKTU adalah saat diterima (UTC), sehingga urutan nama sama
      dengan urutan waktu; AWAL-AKHIR adalah nomor rekaman probe dalam batch.
  batches/WAKTU_PROBE_AWAL-AKHIR.sig   tanda tangan Ed25519 batch itu, 64 byte mentah.
  batches.csv          satu baris per batch: nama, file kunci, waktu diterima (UTC), probe,
      stream, nomor rekaman, ID kunci, ukuran, dan tanda tangan seperti diterima (base64,
      header X-JagaDesa-Signature).
  keys/PROBE_IDKUNCI.pem  kunci publik probe (PEM).
  sla/computation.txt  rumus ketersediaan dan restitusi dengan angka bulan ini.
  sla/outages.csv      daftar gangguan dan penyebabnya.
  sla/result.json      hasil SLA bulan ini seperti dihitung server.
  pack.json            ringkasan paket untuk mesin.
  verify.sh            skrip yang memeriksa semua tanda tangan (langkah 5).
  SHA256SUMS           SHA-256 setiap file lain.`,
		`  batches/TIME_PROBE_FIRST-LAST.json  one batch: the report exactly as the probe signed it
      (JSON, byte for byte). TIME is when it was received (UTC), so the names sort by time;
      FIRST-LAST are the probe's record numbers in the batch.
  batches/TIME_PROBE_FIRST-LAST.sig   its Ed25519 signature, 64 raw bytes.
  batches.csv          one line per batch: name, key file, time received (UTC), probe, stream,
      record numbers, key ID, size, and the signature as received (base64, the
      X-JagaDesa-Signature header).
  keys/PROBE_KEYID.pem   the probes' public keys (PEM).
  sla/computation.txt  the availability and restitution formulas with the month's numbers.
  sla/outages.csv      the outages and their causes.
  sla/result.json      the month's SLA result as the server computed it.
  pack.json            a summary of the pack for machines.
  verify.sh            a script that checks every signature (step 5).
  SHA256SUMS           the SHA-256 of every other file.`)
	b.WriteString("\n")
	say("LANGKAH PEMERIKSAAN", "STEPS")
	say(`Diperlukan OpenSSL 3.0 atau lebih baru (periksa: openssl version) dan shell POSIX (Linux, macOS,
WSL atau Git Bash di Windows). LibreSSL bawaan macOS mungkin tidak mengenal -rawin: pasang OpenSSL.`,
		`You need OpenSSL 3.0 or newer (check: openssl version) and a POSIX shell (Linux, macOS, WSL or
Git Bash on Windows). The LibreSSL macOS ships may not know -rawin: install OpenSSL.`)
	b.WriteString("\n")
	say("1. Buka paket:", "1. Unpack it:")
	say("     unzip %s -d paket && cd paket", "     unzip %s -d pack && cd pack", pl.FileName())
	b.WriteString("\n")
	say(`2. Pastikan semua file lengkap dan sama seperti saat paket dibuat:
     sha256sum -c SHA256SUMS          (macOS: shasum -a 256 -c SHA256SUMS)
   Setiap baris harus berakhir "OK". Ini hanya menunjukkan bahwa file cocok satu sama lain;
   buktinya adalah tanda tangan (langkah 4 dan 5).`,
		`2. Check every file is there and unchanged since the pack was made:
     sha256sum -c SHA256SUMS          (macOS: shasum -a 256 -c SHA256SUMS)
   Every line must end in "OK". This only shows the files match each other; the proof is
   the signatures (steps 4 and 5).`)
	b.WriteString("\n")
	say(`3. Pastikan setiap kunci publik benar kunci probe desa itu, dari sumber di luar paket ini.
   Kunci dalam base64, seperti dicetak "jagadesa-probe keygen" di router:
     openssl pkey -pubin -in %[1]s -outform DER | tail -c 32 | openssl base64 -A
   ID kunci adalah 16 digit heksadesimal pertama dari:
     openssl pkey -pubin -in %[1]s -outform DER | tail -c 32 | openssl dgst -sha256
   Tanda tangan hanya membuktikan bahwa batch dibuat oleh pemegang kunci itu; kuncinya
   sendiri harus dipercaya berdasarkan sumber lain (router desa, catatan pendaftaran probe).`,
		`3. Check each public key is the village probe's own key, from a source other than this pack.
   The key in base64, as "jagadesa-probe keygen" prints it on the router:
     openssl pkey -pubin -in %[1]s -outform DER | tail -c 32 | openssl base64 -A
   The key ID is the first 16 hex digits of:
     openssl pkey -pubin -in %[1]s -outform DER | tail -c 32 | openssl dgst -sha256
   A signature only proves the batch was made by the holder of the key; the key itself must be
   trusted on other grounds (the village router, the probe's enrollment records).`, key)
	b.WriteString("\n")
	say(`4. Periksa satu batch:
     openssl pkeyutl -verify -pubin -inkey %[1]s -rawin -in %[2]s.json -sigfile %[2]s.sig
   OpenSSL mencetak "Signature Verified Successfully" (status keluar 0). Bila satu byte saja
   diubah, ia mencetak "Signature Verification Failure" (status keluar 1).
   File .sig adalah tanda tangan base64 di kolom signature_base64 batches.csv, didekode:
     printf '%%s' '%[3]s' | openssl base64 -d -A > cek.sig
     cmp cek.sig %[2]s.sig`,
		`4. Check one batch:
     openssl pkeyutl -verify -pubin -inkey %[1]s -rawin -in %[2]s.json -sigfile %[2]s.sig
   OpenSSL prints "Signature Verified Successfully" (exit status 0). Change a single byte and
   it prints "Signature Verification Failure" (exit status 1).
   The .sig file is the base64 signature of batches.csv's signature_base64 column, decoded:
     printf '%%s' '%[3]s' | openssl base64 -d -A > check.sig
     cmp check.sig %[2]s.sig`, key, batch, sig)
	b.WriteString("\n")
	say(`5. Periksa semua batch:
     sh verify.sh
   Skrip menjalankan langkah 4 untuk setiap baris batches.csv, menyebut setiap batch yang gagal
   (FAIL nama), dan gagal juga bila batches/ berisi file .json yang tidak tercantum. Hasil baik:
   "%[1]d batches verified, 0 failed" dan status keluar 0. OpenSSL dijalankan sekali per batch:
   sebulan batch per menit (sekitar 44.000) memerlukan beberapa menit.`,
		`5. Check every batch:
     sh verify.sh
   It runs step 4 for every line of batches.csv, names every batch that fails (FAIL name), and
   also fails when batches/ holds a .json file not listed there. A good result:
   "%[1]d batches verified, 0 failed" and exit status 0. OpenSSL runs once per batch: a month
   of one-minute batches (about 44,000) takes a few minutes.`, len(pl.entries))
	b.WriteString("\n")
	say("ISI BATCH", "WHAT A BATCH HOLDS")
	say(`Setiap .json adalah satu laporan probe: "village", "probe", "stream", dan "samples", masing-masing
dengan "seq" (nomor rekaman), "t" (waktu, milidetik Unix UTC; date -u -d @DETIK) dan "kind":
icmp (ping ke satu target: terkirim, diterima, RTT), heartbeat (probe hidup), dns, http,
throughput (uji kecepatan), outage (catatan probe sendiri tentang gangguan yang sudah selesai:
cause link/power/probe, start_ms, end_ms). Gangguan di sla/outages.csv dapat dicocokkan dengan
sampel pada waktu itu. Titik data di basis data server adalah sampel-sampel ini.`,
		`Each .json is one probe report: "village", "probe", "stream" and "samples", each with "seq" (the
record number), "t" (the time, Unix milliseconds UTC; date -u -d @SECONDS) and "kind": icmp (a
ping round to one target: sent, received, RTTs), heartbeat (the probe is alive), dns, http,
throughput (a speed test), outage (the probe's own record of an outage once over: cause
link/power/probe, start_ms, end_ms). The outages in sla/outages.csv can be matched against the
samples at those times. The points in the server's database are these samples.`)
	b.WriteString("\n")
	say("APA YANG DIBUKTIKAN, DAN APA YANG TIDAK", "WHAT THIS PROVES, AND WHAT IT DOES NOT")
	say(`Batch yang terverifikasi membuktikan bahwa pemegang kunci probe membuat byte-byte itu dan tidak
ada yang mengubahnya sesudahnya, baik ISP maupun operator JagaDesa. Ini tidak membuktikan bahwa
jam router benar, atau bahwa router tidak dikuasai orang lain: kunci router yang dibobol
menandatangani apa saja yang diinginkan penyusupnya. Hasil SLA (sla/) dihitung server dari
sampel-sampel ini, tidak ditandatangani probe; siapa pun dapat menghitungnya ulang dari batch.`,
		`A verified batch proves that the holder of the probe's key produced those bytes and that nobody
changed them afterwards: not the ISP, and not the JagaDesa operator. It does not prove that the
router's clock was right, or that the router was not taken over: a compromised router's key
signs whatever its intruder wants. The SLA result (sla/) is the server's computation from these
samples, not signed by the probe; anyone can recompute it from the batches.`)
	return b.Bytes()
}

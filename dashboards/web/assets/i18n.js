// Every string the dashboard shows, Bahasa Indonesia first, English second,
// and the number and date formats of each.

export const strings = {
  id: {
    map: "Peta", incidents: "Insiden", logout: "Keluar", loading: "Memuat…",
    login_title: "Masuk ke JagaDesa", login_help: "Masukkan token akses yang diberikan operator server.",
    login_token: "Token akses", login_submit: "Masuk", login_failed: "Gagal masuk",
    province: "Provinsi", filters: "Saring", status: "Status", all: "Semua", cohort: "Angkatan",
    programme_only: "Hanya desa program", flag: "Penanda", flag_3t: "3T", flag_miskin: "Miskin ekstrem",
    flag_digital: "Desa digital", flag_approximate: "Lokasi perkiraan", search: "Cari desa (nama atau kode)", no_results: "Tidak ada yang cocok",
    counts: "Desa dipantau", choropleth: "Warnai kabupaten menurut % normal", legend: "Keterangan",
    approximate: "lokasi perkiraan (titik kecamatan)", not_monitored: "tidak dipantau",
    programme_village: "desa program", open_village: "Buka halaman desa", open_regency: "Buka halaman kabupaten",
    rtt: "RTT", loss: "Loss", last_seen: "Terakhir terlihat", never: "belum pernah",
    status_up: "Normal", status_degraded: "Terganggu", status_down: "Putus", status_compromised: "Disusupi",
    status_unknown: "Tidak diketahui",
    district: "Kecamatan", regency: "Kabupaten/Kota", code: "Kode", isp: "ISP", contract: "Kontrak",
    remote_3t: "Daerah 3T", extreme_poor: "Miskin ekstrem", desa_digital: "Desa digital", yes: "ya", no: "tidak",
    idm: "IDM 2024", range: "Rentang", target: "Tujuan", latency: "Latensi (median dan sebaran RTT)",
    uptime: "Linimasa ketersediaan", outages: "Gangguan", start: "Mulai", end: "Selesai", duration: "Durasi",
    cause: "Penyebab", ongoing: "berlangsung", cause_link: "putus jaringan", cause_power: "putus listrik",
    cause_probe: "gangguan probe", cause_unknown: "belum diketahui", events: "Kejadian terakhir",
    time: "Waktu", kind: "Jenis", severity: "Tingkat", message: "Pesan", throughput: "Kecepatan vs kontrak",
    download: "Unduh", upload: "Unggah", of_contract: "dari kontrak", none: "Tidak ada",
    up_state: "normal", degraded_state: "terganggu", down_state: "putus", power_state: "putus listrik",
    probe_state: "gangguan probe", nodata_state: "tidak ada data",
    coverage: "Cakupan", villages: "Desa", programme: "Program", monitored: "Dipantau", up_pct: "% normal",
    median_rtt: "Median RTT", median_loss: "Median loss", worst: "Desa yang paling perlu perhatian",
    cohorts: "Perbandingan angkatan", no_data: "Belum ada data", reason: "Alasan", probe: "Probe",
    back_to_map: "← Kembali ke peta", error: "Terjadi kesalahan", not_found: "Tidak ditemukan",
    wib: "WIB", hours: "j", minutes: "m", seconds: "d",
    incident_queue: "Antrean insiden", opened: "Dibuka", csirt: "CSIRT", actions: "Tindakan",
    ack: "Tangani", resolve: "Selesaikan", add_note: "Tambah catatan", notes: "Catatan", audit: "Jejak audit",
    evidence: "Bukti", stage: "Tahap", started: "Mulai terjadi", escalated: "dieskalasi", priority: "prioritas",
    report_csv: "Unduh laporan per CSIRT (CSV)",
    stix_export: "Ekspor insiden keamanan (STIX 2.1)",
    stix_export_hint: "Insiden keamanan 30 hari terakhir sebagai bundle STIX 2.1, untuk OpenCTI, MISP atau CSIRT nasional", by: "Oleh", assignee: "Penanggung jawab",
    kind_village_down: "Desa putus", kind_power_cut: "Padam listrik", kind_probe_fault: "Gangguan probe",
    kind_degraded: "Terganggu", kind_sla_breach: "Di bawah kontrak (SLA)", kind_regional_outage: "Gangguan wilayah",
    kind_security: "Insiden keamanan",
    state_active: "Belum selesai", state_open: "Terbuka", state_acknowledged: "Ditangani", state_resolved: "Selesai",
    severity_critical: "Kritis", severity_warning: "Peringatan", severity_info: "Info",
    stage_identification: "Identifikasi", stage_containment: "Penanggulangan", stage_recovery: "Pemulihan",
    merged_into: "digabung ke", muted: "notifikasi ditahan",
  },
  en: {
    map: "Map", incidents: "Incidents", logout: "Sign out", loading: "Loading…",
    login_title: "Sign in to JagaDesa", login_help: "Enter the access token the server's operator gave you.",
    login_token: "Access token", login_submit: "Sign in", login_failed: "Sign-in failed",
    province: "Province", filters: "Filter", status: "Status", all: "All", cohort: "Cohort",
    programme_only: "Programme villages only", flag: "Flag", flag_3t: "3T (remote)", flag_miskin: "Extreme poverty",
    flag_digital: "Digital village", flag_approximate: "Approximate location", search: "Find a village (name or code)", no_results: "No match",
    counts: "Monitored villages", choropleth: "Colour regencies by % up", legend: "Legend",
    approximate: "approximate location (kecamatan point)", not_monitored: "not monitored",
    programme_village: "programme village", open_village: "Open the village page", open_regency: "Open the regency page",
    rtt: "RTT", loss: "Loss", last_seen: "Last seen", never: "never",
    status_up: "Up", status_degraded: "Degraded", status_down: "Down", status_compromised: "Compromised",
    status_unknown: "Unknown",
    district: "District", regency: "Regency/City", code: "Code", isp: "ISP", contract: "Contract",
    remote_3t: "3T area", extreme_poor: "Extreme poverty", desa_digital: "Digital village", yes: "yes", no: "no",
    idm: "IDM 2024", range: "Range", target: "Target", latency: "Latency (median and RTT spread)",
    uptime: "Uptime timeline", outages: "Outages", start: "Start", end: "End", duration: "Duration",
    cause: "Cause", ongoing: "ongoing", cause_link: "link cut", cause_power: "power cut",
    cause_probe: "probe fault", cause_unknown: "not yet known", events: "Latest events",
    time: "Time", kind: "Kind", severity: "Severity", message: "Message", throughput: "Throughput vs contract",
    download: "Download", upload: "Upload", of_contract: "of contract", none: "None",
    up_state: "up", degraded_state: "degraded", down_state: "down", power_state: "power cut",
    probe_state: "probe fault", nodata_state: "no data",
    coverage: "Coverage", villages: "Villages", programme: "Programme", monitored: "Monitored", up_pct: "% up",
    median_rtt: "Median RTT", median_loss: "Median loss", worst: "Villages most in need of attention",
    cohorts: "Cohort comparison", no_data: "No data yet", reason: "Reason", probe: "Probe",
    back_to_map: "← Back to the map", error: "Something went wrong", not_found: "Not found",
    wib: "WIB", hours: "h", minutes: "m", seconds: "s",
    incident_queue: "Incident queue", opened: "Opened", csirt: "CSIRT", actions: "Actions",
    ack: "Acknowledge", resolve: "Resolve", add_note: "Add note", notes: "Notes", audit: "Audit trail",
    evidence: "Evidence", stage: "Stage", started: "Started", escalated: "escalated", priority: "priority",
    report_csv: "Download the per-CSIRT report (CSV)",
    stix_export: "Export security incidents (STIX 2.1)",
    stix_export_hint: "Security incidents of the last 30 days as a STIX 2.1 bundle, for OpenCTI, MISP or the national CSIRT", by: "By", assignee: "Assignee",
    kind_village_down: "Village down", kind_power_cut: "Power cut", kind_probe_fault: "Probe fault",
    kind_degraded: "Degraded", kind_sla_breach: "Below contract (SLA)", kind_regional_outage: "Regional outage",
    kind_security: "Security incident",
    state_active: "Not resolved", state_open: "Open", state_acknowledged: "Acknowledged", state_resolved: "Resolved",
    severity_critical: "Critical", severity_warning: "Warning", severity_info: "Info",
    stage_identification: "Identification", stage_containment: "Containment", stage_recovery: "Recovery",
    merged_into: "merged into", muted: "notifications held",
  },
};

let lang = localStorage.getItem("jagadesa.lang") === "en" ? "en" : "id";

export function currentLang() { return lang; }

export function setLang(l) {
  lang = l === "en" ? "en" : "id";
  localStorage.setItem("jagadesa.lang", lang);
  document.documentElement.lang = lang;
}

export function t(key) {
  return strings[lang][key] ?? strings.id[key] ?? key;
}

const locale = () => (lang === "id" ? "id-ID" : "en-GB");

// num formats a number the local way: 1.234,5 in Indonesian, 1,234.5 in English.
export function num(x, digits = 1) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(x);
}

// when formats a time in Western Indonesia Time, which is what people in
// Jawa Tengah and Jambi read on their clocks.
export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return new Intl.DateTimeFormat(locale(), {
    timeZone: "Asia/Jakarta", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
  }).format(d) + " " + t("wib");
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h) return `${h}${t("hours")} ${m}${t("minutes")}`;
  if (m) return `${m}${t("minutes")} ${r}${t("seconds")}`;
  return `${r}${t("seconds")}`;
}

export const statusKeys = ["up", "degraded", "down", "compromised", "unknown"];

export function statusName(s) { return t("status_" + (s || "unknown")); }

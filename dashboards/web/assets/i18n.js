// Every string the dashboard shows, Bahasa Indonesia first, English second,
// and the number and date formats of each.

export const strings = {
  id: {
    map: "Peta", incidents: "Insiden", logout: "Keluar", loading: "Memuat…",
    login_title: "Masuk ke JagaDesa", login_help: "Masukkan nama pengguna dan kata sandi akun Anda. Tanpa nama pengguna, isikan token admin dari operator server.",
    login_username: "Nama pengguna", login_wrong: "nama pengguna, kata sandi atau token salah",
    login_token: "Kata sandi (atau token admin)", login_submit: "Masuk", login_failed: "Gagal masuk",
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
    // Status reasons (server/status codes) and the hysteresis.
    reason_no_report_yet: "belum pernah ada laporan", reason_silent: "tidak ada laporan selama {d}", reason_silent_bare: "tidak ada laporan",
    reason_unreachable: "semua tujuan ping tidak terjangkau", reason_loss: "packet loss di atas 2%", reason_rtt: "median RTT di atas 150 ms",
    reason_baseline: "menyimpang dari kebiasaan desa pada jam ini", reason_security_incident: "ada insiden keamanan terbuka",
    latest_round: "Putaran terakhir", degraded_since: "Terganggu sejak",
    unit_second: "detik", unit_seconds: "detik", unit_minute: "menit", unit_minutes: "menit", unit_hour: "jam", unit_hours: "jam",
    unit_day: "hari", unit_days: "hari",
    // Incident titles, composed here from the incident's codes.
    title_village: "{kind} — {name}", title_with_reason: "{kind} ({reason}) — {name}", title_security: "{kind}: {signal} — {name}",
    title_regional: "Gangguan wilayah: {n} desa putus di {area}", title_regional_one: "Gangguan wilayah: 1 desa putus di {area}",
    title_campaign: "Serangan dari {ip} ke {n} desa", title_campaign_one: "Serangan dari {ip} ke 1 desa",
    group_district: "kecamatan {name}", group_regency_code: "kabupaten/kota {code}", group_isp: "jaringan {name}",
    group_isp_short: "ISP {name}", group_source: "serangan dari {ip}",
    // Evidence: server-owned keys, values are codes and numbers.
    ev_item: "Keterangan", ev_value: "Nilai",
    ev_reason: "Alasan", ev_silent_s: "Lama tanpa laporan", ev_last_seen: "Terakhir terlihat", ev_rtt_ms: "RTT",
    ev_normal_rtt_ms: "RTT biasanya", ev_loss_pct: "Loss", ev_normal_loss_pct: "Loss biasanya", ev_jitter_ms: "Jitter",
    ev_normal_jitter_ms: "Jitter biasanya", ev_anomaly: "Menyimpang pada", ev_download_pct_of_contract: "Unduh dibanding kontrak",
    ev_cause: "Penyebab", ev_cause_village: "Penyebab di {name}", ev_group: "Cakupan", ev_source: "Sumber",
    metric_rtt: "RTT", metric_loss: "loss", metric_jitter: "jitter",
    // Security signals from the probe.
    signals: "Sinyal keamanan", source: "Sumber", count: "Jumlah", first_seen: "Pertama terlihat", from_probe: "Dari probe",
    signals_dropped: "{n} sinyal lain tidak disimpan",
    sig_config_changed: "Konfigurasi atau kredensial router berubah",
    sig_gateway_mac_changed: "MAC gateway berubah (kemungkinan ARP spoofing)",
    sig_gateway_service_exposed: "Layanan manajemen gateway ISP terbuka ke LAN", sig_dhcp_server_rogue: "Server DHCP lain di LAN desa",
    sig_login_new_source: "Login dari alamat yang belum pernah terlihat",
    sig_login_bruteforce: "Percobaan login beruntun",
    sig_port_opened: "Port baru terbuka di router",
    sig_dns_upstream_unexpected: "Router memakai resolver DNS yang tidak diizinkan",
    sig_dns_upstream_changed: "Resolver DNS router berubah",
    sig_threat_ip: "Koneksi dengan alamat berbahaya dari threat feed",
    sig_threat_domain: "Kueri DNS ke domain berbahaya dari threat feed",
    sig_threat_summary: "Banyak kecocokan threat feed sekaligus",
    sig_dns_hijack: "Resolver router mengarahkan nama publik ke alamat internal (DNS hijack)",
    sig_dns_nxdomain_rewrite: "Resolver router menjawab nama yang tidak ada (NXDOMAIN diubah)",
    sig_dns_answer_mismatch: "Jawaban DNS router berbeda dengan resolver pembanding",
    // The audit trail: action codes and the codes of system entries.
    action_opened: "dibuka", action_village_added: "desa ditambahkan", action_grown: "diperluas", action_merged: "digabung",
    action_escalated: "dieskalasi", action_acknowledged: "ditangani", action_assigned: "ditugaskan", action_stage: "tahap diubah",
    action_resolved: "diselesaikan", action_note: "catatan", action_notified: "diberitahukan", action_muted: "notifikasi ditahan",
    action_classified: "penyebab diketahui", action_evidence: "bukti baru", action_raised: "tingkat dinaikkan",
    evidence_detail: "{n} sinyal baru", evidence_detail_one: "1 sinyal baru",
    resolved_recovered: "kembali normal", resolved_probe_back: "probe melapor kembali",
    resolved_all_back: "semua desa melapor kembali", resolved_throughput_ok: "uji kecepatan memenuhi kontrak",
    escalated_detail: "tidak ditangani {team} dalam {d}; diteruskan ke {prov}", grown_detail: "{from} → {to}",
    by_system: "sistem", by_probe: "probe",
    nav_audit: "Jejak audit", nav_admin: "Administrasi", view_only: "Insiden ini di luar wewenang Anda untuk ditindak: Anda hanya dapat melihatnya.",
    audit_title: "Jejak audit", audit_month: "Bulan", audit_team: "CSIRT", audit_all_teams: "Semua dalam wilayah Anda",
    audit_csv: "Unduh CSV (untuk asesmen kematangan CSIRT BSSN)", audit_actor: "Pelaku", audit_role: "Peran", audit_address: "Alamat",
    audit_object: "Objek", audit_area: "Wilayah", audit_count: "Jumlah", audit_none: "Tidak ada catatan pada bulan ini.",
    admin_title: "Administrasi", users: "Akun", username: "Nama pengguna", role: "Peran", jurisdiction: "Wilayah",
    state: "Keadaan", active: "aktif", disabled: "nonaktif", last_login: "Terakhir masuk", disable: "Nonaktifkan",
    reset_password: "Ganti kata sandi", new_password: "Kata sandi baru (min. 12 karakter)", add_user: "Tambah akun",
    password: "Kata sandi", regency_code: "Kode kabupaten (33.06) untuk peran kabupaten", add: "Tambah",
    probes: "Probe", village_code: "Kode desa", enrolled: "Didaftarkan", enrolled_by: "Oleh",
    rotate: "Rotasi token", revoke: "Cabut", rotate_pending: "rotasi menunggu", replaced_by: "diganti oleh",
    confirm_revoke: "Cabut probe ini? Token-nya langsung berhenti berlaku.", confirm_disable: "Nonaktifkan akun ini? Semua sesinya berakhir.",
    enroll_code: "Kode pendaftaran untuk teknisi", replace_probe: "Ganti router lama desa ini", make_code: "Buat kode",
    code_once: "Kode ini hanya ditampilkan sekali. Ketik di router:", expires: "Berlaku sampai", done: "Selesai.",
    role_province_admin: "admin provinsi", role_province_analyst: "analis CSIRT provinsi", role_regency_analyst: "analis CSIRT kabupaten",
    role_viewer: "peninjau Diskominfo", role_technician: "teknisi lapangan", role_admin: "token admin",
    signout_everywhere: "Keluar dari semua perangkat",
    nav_readiness: "Kesiapan digital", readiness: "Indeks kesiapan digital", readiness_title: "Peringkat kesiapan digital desa",
    readiness_help: "Skor 0–100 dengan patokan tetap: 40% konektivitas, 20% pemanfaatan, 20% perkembangan desa (IDM 2024), 20% tata kelola digital. Pilar tanpa data ditampilkan kosong, bukan nol; skor penuh hanya bila keempat pilar ada.",
    readiness_layer: "Warnai menurut kesiapan digital", readiness_none: "belum ada skor", readiness_missing: "Pilar tanpa data",
    partial: "sebagian", month: "bulan", component: "Komponen", value: "Nilai", goalposts: "Patokan",
    weight: "Bobot", score: "Skor", pillar_connectivity: "Konektivitas", pillar_use: "Pemanfaatan", pillar_village: "Perkembangan desa",
    pillar_governance: "Tata kelola", governance_edit: "Tata kelola digital", gov_website: "Situs web desa", gov_app: "Aplikasi desa",
    gov_services: "Layanan daring", gov_note: "Catatan", save: "Simpan",
    nav_reports: "Laporan", report: "Laporan", report_sla: "SLA per ISP dan kabupaten", report_readiness: "Kesiapan digital per kabupaten",
    report_csirt: "Penanganan insiden CSIRT", print: "Cetak",
    lan_tests: "Uji kecepatan warga", lan_none: "Belum ada warga yang menguji dari halaman probe.", lan_phone: "Ponsel ↔ probe (unduh / unggah)",
    lan_wan: "WAN menit itu", lan_verdict: "Kesimpulan", lan_verdict_wifi: "Wi-Fi/LAN yang lemah", lan_verdict_isp: "tautan ISP di bawah kontrak",
    lan_verdict_ok: "baik", lan_verdict_unknown: "belum dapat disimpulkan",
    gov_import: "Impor tata kelola digital desa", gov_import_submit: "Impor",
    gov_import_help: "Berkas CSV dengan kolom village,website,app,online_services[,note] (ya/tidak atau 1/0). Semua baris masuk atau tidak sama sekali; baris yang salah disebut nomornya. Satu desa dapat juga diisi di halaman desanya.",
    site_mode: "Probe berjalan di", mode_router: "router desa", mode_appliance: "perangkat di samping CPE ISP",
    site_cannot: "Tidak terlihat dari sini", site_sees_all: "semua pemeriksaan berjalan",
    cannot_usage: "pemakaian (sewa DHCP, penghitung WAN)", cannot_conntrack: "koneksi keluar (conntrack)",
    cannot_listening_ports: "port yang terbuka", cannot_auth_log: "log masuk router", cannot_config_files: "berkas konfigurasi router",
    cannot_dns_upstreams: "DNS hulu router", cannot_gateway_services: "layanan manajemen gateway",
    nav_national: "Nasional", national_title: "Pandangan nasional", national_help: "Data yang dikirim setiap provinsi; hanya baca.",
    national_provinces: "Provinsi", national_heard: "Terakhir terdengar", national_offline: "tidak terhubung", national_online: "terhubung",
    national_backlog: "Antrean", national_lag: "Jeda", national_missing: "Hilang", national_open: "Insiden terbuka",
    national_incidents: "Ringkasan insiden", national_not_up: "Desa yang tidak normal", national_villages_total: "Desa dilaporkan",
  },
  en: {
    map: "Map", incidents: "Incidents", logout: "Sign out", loading: "Loading…",
    login_title: "Sign in to JagaDesa", login_help: "Enter your account's username and password. Without a username, enter the admin token from the server's operator.",
    login_username: "Username", login_wrong: "wrong username, password or token",
    login_token: "Password (or admin token)", login_submit: "Sign in", login_failed: "Sign-in failed",
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
    reason_no_report_yet: "no report yet", reason_silent: "no report for {d}", reason_silent_bare: "no report",
    reason_unreachable: "every ping target unreachable", reason_loss: "packet loss above 2%", reason_rtt: "median RTT above 150 ms",
    reason_baseline: "off the village's usual values for this hour", reason_security_incident: "open security incident",
    latest_round: "Latest round", degraded_since: "Degraded since",
    unit_second: "second", unit_seconds: "seconds", unit_minute: "minute", unit_minutes: "minutes", unit_hour: "hour", unit_hours: "hours",
    unit_day: "day", unit_days: "days",
    title_village: "{kind} — {name}", title_with_reason: "{kind} ({reason}) — {name}", title_security: "{kind}: {signal} — {name}",
    title_regional: "Regional outage: {n} villages down in {area}", title_regional_one: "Regional outage: 1 village down in {area}",
    title_campaign: "Attack from {ip} on {n} villages", title_campaign_one: "Attack from {ip} on 1 village",
    group_district: "district {name}", group_regency_code: "regency/city {code}", group_isp: "the {name} network",
    group_isp_short: "ISP {name}", group_source: "attack from {ip}",
    ev_item: "Item", ev_value: "Value",
    ev_reason: "Reason", ev_silent_s: "Silent for", ev_last_seen: "Last seen", ev_rtt_ms: "RTT",
    ev_normal_rtt_ms: "Usual RTT", ev_loss_pct: "Loss", ev_normal_loss_pct: "Usual loss", ev_jitter_ms: "Jitter",
    ev_normal_jitter_ms: "Usual jitter", ev_anomaly: "Off normal in", ev_download_pct_of_contract: "Download vs contract",
    ev_cause: "Cause", ev_cause_village: "Cause at {name}", ev_group: "Scope", ev_source: "Source",
    metric_rtt: "RTT", metric_loss: "loss", metric_jitter: "jitter",
    signals: "Security signals", source: "Source", count: "Count", first_seen: "First seen", from_probe: "From the probe",
    signals_dropped: "{n} further signals not kept",
    sig_config_changed: "Router configuration or credentials changed",
    sig_gateway_mac_changed: "Gateway MAC changed (possible ARP spoofing)",
    sig_gateway_service_exposed: "ISP gateway's management service open to the LAN", sig_dhcp_server_rogue: "Another DHCP server on the village LAN",
    sig_login_new_source: "Login from an address never seen before",
    sig_login_bruteforce: "Repeated login attempts",
    sig_port_opened: "New port open on the router",
    sig_dns_upstream_unexpected: "Router uses a DNS resolver that is not allowed",
    sig_dns_upstream_changed: "Router's DNS resolver changed",
    sig_threat_ip: "Connection with a threat-feed address",
    sig_threat_domain: "DNS query for a threat-feed domain",
    sig_threat_summary: "Many threat-feed matches at once",
    sig_dns_hijack: "Router's resolver sends public names to internal addresses (DNS hijack)",
    sig_dns_nxdomain_rewrite: "Router's resolver answers names that do not exist (NXDOMAIN rewritten)",
    sig_dns_answer_mismatch: "Router's DNS answers differ from the reference resolver",
    action_opened: "opened", action_village_added: "village added", action_grown: "grown", action_merged: "merged",
    action_escalated: "escalated", action_acknowledged: "acknowledged", action_assigned: "assigned", action_stage: "stage changed",
    action_resolved: "resolved", action_note: "note", action_notified: "notified", action_muted: "notifications held",
    action_classified: "cause classified", action_evidence: "new evidence", action_raised: "severity raised",
    evidence_detail: "{n} new signals", evidence_detail_one: "1 new signal",
    resolved_recovered: "back to normal", resolved_probe_back: "the probe reports again",
    resolved_all_back: "every village reports again", resolved_throughput_ok: "speed test meets the contract",
    escalated_detail: "not handled by {team} within {d}; passed to {prov}", grown_detail: "{from} → {to}",
    by_system: "system", by_probe: "probe",
    nav_audit: "Audit trail", nav_admin: "Administration", view_only: "This incident is outside what you may act on: you can only view it.",
    audit_title: "Audit trail", audit_month: "Month", audit_team: "CSIRT", audit_all_teams: "All in your jurisdiction",
    audit_csv: "Download CSV (for the BSSN CSIRT maturity assessment)", audit_actor: "Actor", audit_role: "Role", audit_address: "Address",
    audit_object: "Object", audit_area: "Area", audit_count: "Count", audit_none: "No records this month.",
    admin_title: "Administration", users: "Accounts", username: "Username", role: "Role", jurisdiction: "Jurisdiction",
    state: "State", active: "active", disabled: "disabled", last_login: "Last sign-in", disable: "Disable",
    reset_password: "Set password", new_password: "New password (at least 12 characters)", add_user: "Add an account",
    password: "Password", regency_code: "Regency code (33.06) for regional roles", add: "Add",
    probes: "Probes", village_code: "Village code", enrolled: "Enrolled", enrolled_by: "By",
    rotate: "Rotate token", revoke: "Revoke", rotate_pending: "rotation pending", replaced_by: "replaced by",
    confirm_revoke: "Revoke this probe? Its token stops working at once.", confirm_disable: "Disable this account? All its sessions end.",
    enroll_code: "Enrollment code for a technician", replace_probe: "Replace this village's old router", make_code: "Make a code",
    code_once: "This code is shown once. Type it on the router:", expires: "Valid until", done: "Done.",
    role_province_admin: "province admin", role_province_analyst: "province CSIRT analyst", role_regency_analyst: "regency CSIRT analyst",
    role_viewer: "Diskominfo viewer", role_technician: "field technician", role_admin: "admin token",
    signout_everywhere: "Sign out on every device",
    nav_readiness: "Digital readiness", readiness: "Digital-readiness index", readiness_title: "Village digital-readiness ranking",
    readiness_help: "A 0–100 score with fixed goalposts: 40% connectivity, 20% use, 20% village development (IDM 2024), 20% digital governance. A pillar without data is shown empty, never as zero; a full score needs all four pillars.",
    readiness_layer: "Colour by digital readiness", readiness_none: "no score yet", readiness_missing: "Pillars without data",
    partial: "partial", month: "month", component: "Component", value: "Value", goalposts: "Goalposts",
    weight: "Weight", score: "Score", pillar_connectivity: "Connectivity", pillar_use: "Use", pillar_village: "Village development",
    pillar_governance: "Governance", governance_edit: "Digital governance", gov_website: "Village website", gov_app: "Village app",
    gov_services: "Online services", gov_note: "Note", save: "Save",
    nav_reports: "Reports", report: "Report", report_sla: "SLA per ISP and regency", report_readiness: "Digital readiness per regency",
    report_csirt: "CSIRT incident handling", print: "Print",
    lan_tests: "Villagers' speed tests", lan_none: "No villager has tested from the probe's page yet.", lan_phone: "Phone ↔ probe (down / up)",
    lan_wan: "WAN that minute", lan_verdict: "Verdict", lan_verdict_wifi: "weak Wi-Fi/LAN", lan_verdict_isp: "ISP link below contract",
    lan_verdict_ok: "good", lan_verdict_unknown: "cannot tell yet",
    gov_import: "Import villages' digital governance", gov_import_submit: "Import",
    gov_import_help: "A CSV with columns village,website,app,online_services[,note] (ya/tidak or 1/0). All rows or none; a bad row is named by its line. One village can also be entered on its own page.",
    site_mode: "Probe runs on", mode_router: "the village router", mode_appliance: "a box beside the ISP's CPE",
    site_cannot: "Not visible from here", site_sees_all: "every check runs",
    cannot_usage: "use (DHCP leases, WAN counters)", cannot_conntrack: "outbound connections (conntrack)",
    cannot_listening_ports: "open ports", cannot_auth_log: "the router's login log", cannot_config_files: "the router's config files",
    cannot_dns_upstreams: "the router's DNS upstreams", cannot_gateway_services: "the gateway's management services",
    nav_national: "National", national_title: "National view", national_help: "What each province sends; read-only.",
    national_provinces: "Provinces", national_heard: "Last heard", national_offline: "offline", national_online: "online",
    national_backlog: "Backlog", national_lag: "Lag", national_missing: "Missing", national_open: "Open incidents",
    national_incidents: "Incident overview", national_not_up: "Villages not up", national_villages_total: "Villages reported",
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

// has says whether a key has a text, so codes the dashboard does not know
// yet can be shown as they are.
export function has(key) {
  return key in strings[lang] || key in strings.id;
}

// tf fills a text's {placeholders}: tf("reason_silent", {d: "17 detik"}).
export function tf(key, vars = {}) {
  return t(key).replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
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

// humanDuration writes a span in words, at most two units: "4 menit 5
// detik", "2 hours 3 minutes".
export function humanDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "–";
  let s = Math.max(0, Math.round(Number(seconds)));
  const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  const parts = [];
  for (const [u, size] of units) {
    const n = Math.floor(s / size);
    s -= n * size;
    if (n > 0 || (u === "second" && parts.length === 0)) parts.push(`${num(n, 0)} ${t("unit_" + u + (n === 1 ? "" : "s"))}`);
    if (parts.length === 2) break;
    if (parts.length === 1 && n === 0) break;
  }
  return parts.join(" ");
}

// reasonText puts a status reason code (server/status) in words; a code it
// does not know is shown as it is.
export function reasonText(code, silentS) {
  if (!code) return "";
  if (code === "silent") {
    return silentS === null || silentS === undefined || silentS === "" ? t("reason_silent_bare") : tf("reason_silent", { d: humanDuration(silentS) });
  }
  return has("reason_" + code) ? t("reason_" + code) : code;
}

export const statusKeys = ["up", "degraded", "down", "compromised", "unknown"];

export function statusName(s) { return t("status_" + (s || "unknown")); }

package jagadesa

// SecurityKind names one kind of security signal a probe sends, in Bahasa
// Indonesia: Title for an incident's title, Short for lists and messages.
type SecurityKind struct {
	Title, Short string
}

// SecurityKinds are the event kinds that are signs of attack: a probe's
// event of one of these kinds, above info, opens (or adds to) a security
// incident. One list, so the incident manager, the notifications and the
// pages agree on what counts and what it is called.
var SecurityKinds = map[string]SecurityKind{
	// The router itself (probe/security.go).
	"config_changed":          {"konfigurasi atau kredensial router berubah", "konfigurasi router berubah"},
	"gateway_mac_changed":     {"MAC gateway berubah (kemungkinan ARP spoofing)", "MAC gateway berubah"},
	"login_new_source":        {"login dari alamat yang belum pernah terlihat", "login dari alamat baru"},
	"login_bruteforce":        {"percobaan login beruntun", "percobaan login beruntun"},
	"port_opened":             {"port baru terbuka di router", "port baru terbuka"},
	"dns_upstream_unexpected": {"router memakai resolver DNS yang tidak diizinkan (kemungkinan DNS hijack)", "resolver DNS tidak diizinkan"},
	"dns_upstream_changed":    {"resolver DNS router berubah", "resolver DNS berubah"},
	// Threat-feed hits (probe/threatfeed.go): a host at the village talking
	// to, or looking up, something the CSIRT's feed lists as bad.
	"threat_ip":      {"koneksi dengan alamat berbahaya dari threat feed", "koneksi ke alamat berbahaya"},
	"threat_domain":  {"kueri DNS ke domain berbahaya dari threat feed", "kueri ke domain berbahaya"},
	"threat_summary": {"banyak kecocokan threat feed sekaligus", "banyak kecocokan threat feed"},
	// The router's resolver against the reference (probe/dnshijack.go).
	"dns_hijack":           {"resolver router mengarahkan nama publik ke alamat internal (DNS hijack)", "DNS hijack"},
	"dns_nxdomain_rewrite": {"resolver router menjawab nama yang tidak ada (NXDOMAIN diubah)", "NXDOMAIN diubah"},
	"dns_answer_mismatch":  {"jawaban DNS router berbeda dengan resolver pembanding", "jawaban DNS berbeda"},
	// What an appliance beside an ISP-managed CPE sees of it from the LAN
	// (probe/appliance.go).
	"gateway_service_exposed": {"layanan manajemen gateway ISP terbuka ke LAN", "layanan gateway terbuka"},
	"dhcp_server_rogue":       {"server DHCP lain di LAN desa", "server DHCP lain"},
}

// IsSecurityKind reports whether an event kind is a sign of attack.
func IsSecurityKind(kind string) bool {
	_, ok := SecurityKinds[kind]
	return ok
}

// SecurityKindTitle is a kind's long Indonesian name, or the kind itself.
func SecurityKindTitle(kind string) string {
	if k, ok := SecurityKinds[kind]; ok {
		return k.Title
	}
	return kind
}

// SecurityKindShort is a kind's short Indonesian name, or the kind itself.
func SecurityKindShort(kind string) string {
	if k, ok := SecurityKinds[kind]; ok {
		return k.Short
	}
	return kind
}

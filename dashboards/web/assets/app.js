// JagaDesa dashboard: one page, four views chosen by the path — the map
// (/), a village (/desa/{code}), a regency (/kabupaten/{code}) and sign-in
// (/login). Plain ES modules, no build step; MapLibre GL and uPlot are
// vendored under /assets/vendor.
import { t, tf, has, num, when, duration, humanDuration, reasonText, statusName, statusKeys, currentLang, setLang } from "./i18n.js";

const STATUS_COLOURS = { up: "#2e9e44", degraded: "#e0a100", down: "#d7301f", compromised: "#7b2cbf", unknown: "#8c8c8c" };
const UPTIME_COLOURS = { up: "#2e9e44", degraded: "#e0a100", down: "#d7301f", power: "#4b4b4b", probe: "#1f78b4", nodata: "#e3e3e3" };

window.jagadesa = { map: null, ready: false };

// ---------------------------------------------------------------- helpers

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const resp = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" }, ...options });
  if (resp.status === 401) throw new Unauthorized();
  if (!resp.ok) {
    let msg = resp.statusText;
    try { msg = (await resp.json()).error || msg; } catch { /* not JSON */ }
    const err = new Error(msg);
    err.status = resp.status;
    throw err;
  }
  return resp.status === 204 ? null : resp.json();
}

// h builds an element: h("a", {href: "/"}, "text", child…). Text is always
// set as text, never as HTML, so names from the data cannot inject markup.
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style") el.style.cssText = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// fill replaces an element's children, skipping null and false, which
// replaceChildren would print as text.
function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

function badge(status) {
  const s = status || "unknown";
  return h("span", { class: "badge", style: `background:${STATUS_COLOURS[s] || STATUS_COLOURS.unknown}` }, statusName(s));
}

function navigate(path) {
  if (location.pathname + location.search !== path) history.pushState({}, "", path);
  route();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-link]");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", route);

const view = () => document.getElementById("view");
let current = null; // the view object: {relabel?(), destroy?()}

function setView(page, v) {
  if (current && current.destroy) current.destroy();
  current = v;
  document.body.dataset.page = page;
}

// me is who is signed in (GET /api/v1/session): role, jurisdiction and what
// the page may offer. The server checks every request anyway; the page
// only leaves out what would be refused.
let me = null;

async function loadMe() {
  try { me = await api("/api/v1/session"); } catch (err) { me = null; if (!(err instanceof Unauthorized)) throw err; }
  // A national server (jagadesa serve --federation-peers) answers the
  // national view; others say 404 and the page offers no link to it.
  if (me && national === null) national = await api("/api/v1/national/provinces").then(() => true, () => false);
  return me;
}

let national = null; // whether this is a national server; null: not asked yet

const can = (what) => !!(me && me.can && me.can[what]);

function roleName(r) { return has("role_" + (r || "").replace(/-/g, "_")) ? t("role_" + r.replace(/-/g, "_")) : r; }

function header() {
  const nav = document.getElementById("nav");
  fill(nav, h("a", { href: "/", "data-link": true }, t("map")), h("a", { href: "/insiden", "data-link": true, id: "nav-incidents" }, t("incidents")),
    can("reports") ? h("a", { href: "/kesiapan", "data-link": true, id: "nav-readiness" }, t("nav_readiness")) : null,
    can("reports") ? h("a", { href: "/laporan", "data-link": true, id: "nav-reports" }, t("nav_reports")) : null,
    can("read_audit") ? h("a", { href: "/audit", "data-link": true, id: "nav-audit" }, t("nav_audit")) : null,
    national ? h("a", { href: "/nasional", "data-link": true, id: "nav-national" }, t("nav_national")) : null,
    can("manage_users") || can("manage_probes") ? h("a", { href: "/admin", "data-link": true, id: "nav-admin" }, t("nav_admin")) : null,
    me ? h("span", { class: "who", id: "who", title: me.jurisdiction }, `${me.username} · ${roleName(me.role)}${me.area ? " " + me.area : ""}`) : null);
  document.getElementById("lang-switch").textContent = currentLang() === "id" ? "EN" : "ID";
  document.getElementById("lang-switch").title = currentLang() === "id" ? "English" : "Bahasa Indonesia";
  document.getElementById("logout").textContent = t("logout");
}

document.getElementById("lang-switch").addEventListener("click", () => {
  setLang(currentLang() === "id" ? "en" : "id");
  header();
  if (current && current.relabel) current.relabel();
  else route();
});

document.getElementById("logout").addEventListener("click", async () => {
  try { await api("/api/v1/session", { method: "DELETE" }); } catch { /* signed out anyway */ }
  me = null;
  navigate("/login");
});

async function route() {
  const p = location.pathname;
  if (p === "/login") me = null;
  else if (!me) await loadMe().catch(() => {});
  header();
  try {
    if (p === "/login") return loginView();
    if (!me) throw new Unauthorized();
    document.getElementById("logout").hidden = false;
    let m;
    if ((m = p.match(/^\/desa\/(\d{2}\.\d{2}\.\d{2}\.\d{4})$/))) return await villageView(m[1]);
    if ((m = p.match(/^\/kabupaten\/(\d{2}\.\d{2})$/))) return await regencyView(m[1]);
    if (p === "/insiden") return await incidentsView();
    if ((m = p.match(/^\/insiden\/([A-Za-z0-9_-]{1,64})$/))) return await incidentView(m[1]);
    if (p === "/audit") return await auditView();
    if (p === "/kesiapan") return await readinessView();
    if (p === "/laporan") return await reportView();
    if (p === "/admin") return await adminView();
    if (p === "/nasional") return await nationalView();
    return await mapView();
  } catch (err) {
    if (err instanceof Unauthorized) {
      history.replaceState({}, "", "/login?next=" + encodeURIComponent(p + location.search));
      return loginView();
    }
    setView("error", null);
    view().replaceChildren(h("section", { class: "page" }, h("h1", {}, t("error")), h("p", {}, err.message),
      h("a", { href: "/", "data-link": true }, t("back_to_map"))));
  }
}

// ------------------------------------------------------------------ login

function loginView() {
  document.getElementById("logout").hidden = true;
  const msg = h("p", { class: "error", role: "alert" });
  const user = h("input", { id: "login-username", type: "text", autocomplete: "username" });
  const input = h("input", { id: "login-token", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "login", onsubmit: async (e) => {
    e.preventDefault();
    msg.textContent = "";
    try {
      // With a username: a person's password; without: the admin token.
      const creds = user.value.trim() ? { username: user.value.trim(), password: input.value } : { token: input.value };
      await api("/api/v1/session", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(creds) });
      await loadMe();
      const next = new URLSearchParams(location.search).get("next");
      navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/");
    } catch (err) {
      msg.textContent = t("login_failed") + ": " + (err instanceof Unauthorized ? t("login_wrong") : err.message);
    }
  } },
  h("h1", {}, t("login_title")), h("p", {}, t("login_help")),
  h("label", { for: "login-username" }, t("login_username")), user,
  h("label", { for: "login-token" }, t("login_token")), input,
  h("button", { id: "login-submit", type: "submit" }, t("login_submit")), msg);
  setView("login", { relabel: loginView });
  view().replaceChildren(form);
  input.focus();
}

// -------------------------------------------------------------------- map

async function mapView() {
  const [provinces, config] = await Promise.all([api("/api/v1/provinces"), api("/api/v1/config").catch(() => ({}))]);
  const state = {
    province: sessionStorage.getItem("jagadesa.province") || provinces[0].id,
    status: "", cohort: "", programme: false, flag: "", choropleth: false, readiness: false,
    features: [], byCode: new Map(), ready: null,
  };
  if (!provinces.some((p) => p.id === state.province)) state.province = provinces[0].id;
  const prov = () => provinces.find((p) => p.id === state.province);

  const query = () => {
    const q = new URLSearchParams({ province: state.province });
    if (state.status) q.set("status", state.status);
    if (state.cohort) q.set("cohort", state.cohort);
    if (state.programme) q.set("programme", "yes");
    if (state.flag) q.set("flag", state.flag);
    return q;
  };
  const tileURL = () => `${location.origin}/api/v1/tiles/{z}/{x}/{y}.mvt?${query()}&v=${Math.floor(Date.now() / 1000)}`;

  const panel = h("aside", { id: "panel" });
  const mapEl = h("div", { id: "map" });
  view().replaceChildren(h("div", { class: "mapview" }, panel, mapEl));

  const statusColour = ["match", ["get", "status"], ...Object.entries(STATUS_COLOURS).flat(), STATUS_COLOURS.unknown];
  const inProgramme = [">", ["get", "cohort"], 0];
  const layers = [{ id: "background", type: "background", paint: { "background-color": "#dde8ef" } }];
  const sources = { jd: { type: "vector", tiles: [tileURL()], minzoom: 0, maxzoom: 14 } };
  if (config && config.basemap_url) {
    sources.basemap = { type: "raster", tiles: [config.basemap_url], tileSize: 256 };
    layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  layers.push(
    { id: "regencies-fill", type: "fill", source: "jd", "source-layer": "regencies", paint: { "fill-color": "#f4f1ea", "fill-opacity": config && config.basemap_url ? 0.3 : 0.9 } },
    { id: "regencies-line", type: "line", source: "jd", "source-layer": "regencies", paint: { "line-color": "#7d8b99", "line-width": 0.8 } },
    { id: "villages", type: "circle", source: "jd", "source-layer": "villages", paint: {
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 5, ["case", inProgramme, 3, 1.2], 10, ["case", inProgramme, 6, 2.5], 14, ["case", inProgramme, 9, 4]],
      "circle-color": ["case", ["get", "approximate"], "rgba(0,0,0,0)", statusColour],
      "circle-opacity": ["case", ["get", "monitored"], 0.95, 0.35],
      "circle-stroke-color": ["case", ["get", "approximate"], statusColour, "#ffffff"],
      "circle-stroke-width": ["case", ["get", "approximate"], 2, inProgramme, 1, 0],
    } },
  );
  const b = prov().bbox;
  const map = new maplibregl.Map({
    container: mapEl, style: { version: 8, sources, layers },
    bounds: [[b[0], b[1]], [b[2], b[3]]], fitBoundsOptions: { padding: 20 },
    attributionControl: false, dragRotate: false, pitchWithRotate: false,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl(), "bottom-right");
  const attribution = new maplibregl.AttributionControl({ compact: false, customAttribution: prov().attribution });
  map.addControl(attribution, "bottom-right");
  window.jagadesa.map = map;
  window.jagadesa.ready = false;

  // Test and automation hooks.
  window.jagadesa.renderedVillages = () => map.queryRenderedFeatures({ layers: ["villages"] }).length;
  window.jagadesa.villageScreenPoint = (code) => {
    const f = state.byCode.get(code);
    if (!f) return null;
    const p = map.project(f.geometry.coordinates);
    const r = mapEl.getBoundingClientRect();
    if (p.x < 0 || p.y < 0 || p.x > r.width || p.y > r.height) return null;
    return [r.left + p.x, r.top + p.y];
  };

  async function loadVillages() {
    const fc = await api("/api/v1/map/villages.geojson?" + query());
    state.features = fc.features;
    state.byCode = new Map(fc.features.map((f) => [f.properties.code, f]));
    renderPanel();
  }

  function refreshTiles() {
    const src = map.getSource("jd");
    if (src) src.setTiles([tileURL()]);
  }

  // Readiness mode: village dots and regency fills coloured by the
  // digital-readiness index (a complete score; a partial one lighter).
  async function applyReadiness() {
    if (!state.readiness) {
      map.setPaintProperty("villages", "circle-color", ["case", ["get", "approximate"], "rgba(0,0,0,0)", statusColour]);
      applyChoropleth();
      return;
    }
    if (!state.ready) state.ready = await api("/api/v1/readiness?limit=20000");
    const byVillage = [], regScores = new Map();
    for (const r of state.ready.villages) {
      const s = r.score ?? r.partial_score;
      if (s === null || s === undefined) continue;
      byVillage.push(r.code, readinessColour(s, r.score === null));
      if (!regScores.has(r.regency_code)) regScores.set(r.regency_code, []);
      regScores.get(r.regency_code).push(s);
    }
    const none = "#c8c8c8";
    map.setPaintProperty("villages", "circle-color", byVillage.length ? ["match", ["get", "code"], ...byVillage, none] : none);
    const byRegency = [];
    for (const [code, xs] of regScores) byRegency.push(code, readinessColour(median(xs), false));
    map.setPaintProperty("regencies-fill", "fill-color", byRegency.length ? ["match", ["get", "code"], ...byRegency, "#f4f1ea"] : "#f4f1ea");
    window.jagadesa.readinessColoured = byVillage.length / 2;
  }

  function applyChoropleth() {
    map.setPaintProperty("regencies-fill", "fill-color", state.choropleth
      ? ["case", ["has", "up_pct"], ["interpolate", ["linear"], ["get", "up_pct"], 0, "#d7301f", 50, "#fdae61", 80, "#fee08b", 95, "#a6d96a", 100, "#1a9641"], "#f4f1ea"]
      : "#f4f1ea");
  }

  function popupFor(lngLat, props, kind) {
    const body = kind === "village"
      ? h("div", { class: "popup" },
        h("strong", {}, props.name), " ", badge(props.status),
        h("div", {}, `${t("code")} ${props.code}`),
        props.monitored ? null : h("div", { class: "muted" }, t("not_monitored")),
        props.approximate ? h("div", { class: "muted" }, t("approximate")) : null,
        h("div", {}, `${t("rtt")} ${num(props.rtt_ms)} ms · ${t("loss")} ${num(props.loss_pct)}%`),
        popupReason(props, state.byCode.get(props.code)),
        state.byCode.get(props.code) ? h("div", {}, `${t("last_seen")}: ${state.byCode.get(props.code).properties.last_seen ? when(state.byCode.get(props.code).properties.last_seen) : t("never")}`) : null,
        h("a", { href: `/desa/${props.code}`, "data-link": true, "data-testid": "popup-village-link" }, t("open_village") + " →"))
      : h("div", { class: "popup" },
        h("strong", {}, props.name),
        h("div", {}, `${t("up_pct")}: ${num(props.up_pct)} · ${statusName("down")}: ${num(props.down, 0)}`),
        h("a", { href: `/kabupaten/${props.code}`, "data-link": true, "data-testid": "popup-regency-link" }, t("open_regency") + " →"));
    if (window.jagadesa.popup) window.jagadesa.popup.remove();
    window.jagadesa.popup = new maplibregl.Popup({ closeButton: true, maxWidth: "280px" }).setLngLat(lngLat).setDOMContent(body).addTo(map);
  }

  map.on("click", (e) => {
    const box = [[e.point.x - 4, e.point.y - 4], [e.point.x + 4, e.point.y + 4]];
    const v = map.queryRenderedFeatures(box, { layers: ["villages"] });
    if (v.length) {
      // The nearest of the circles under the cursor.
      v.sort((a, b) => dist(map, a, e.point) - dist(map, b, e.point));
      return popupFor(v[0].geometry.coordinates, v[0].properties, "village");
    }
    const r = map.queryRenderedFeatures(e.point, { layers: ["regencies-fill"] });
    if (r.length) popupFor(e.lngLat, r[0].properties, "regency");
  });
  map.on("mouseenter", "villages", () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "villages", () => { map.getCanvas().style.cursor = ""; });

  function renderPanel() {
    const counts = Object.fromEntries(statusKeys.map((s) => [s, 0]));
    let monitored = 0;
    for (const f of state.features) {
      if (f.properties.monitored) { monitored++; counts[f.properties.status] = (counts[f.properties.status] || 0) + 1; }
    }
    const select = (id, label, value, options, onchange) => h("label", { for: id }, label,
      h("select", { id, onchange }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text))));
    const results = h("ul", { id: "search-results" });
    const search = h("input", { id: "search", type: "search", placeholder: t("search"), autocomplete: "off", oninput: () => {
      const q = search.value.trim().toLowerCase();
      results.replaceChildren();
      if (q.length < 2) return;
      const hits = state.features.filter((f) => f.properties.name.toLowerCase().includes(q) || f.properties.code.startsWith(q)).slice(0, 20);
      if (!hits.length) results.append(h("li", { class: "muted" }, t("no_results")));
      for (const f of hits) {
        const p = f.properties;
        results.append(h("li", { "data-code": p.code, tabindex: 0, onclick: () => {
          map.flyTo({ center: f.geometry.coordinates, zoom: 13, duration: 600 });
          map.once("moveend", () => popupFor(f.geometry.coordinates, p, "village"));
        } }, p.monitored ? badge(p.status) : h("span", { class: "badge off" }, t("not_monitored")), " ", h("strong", {}, p.name), ` — Kec. ${p.district}, ${p.regency}`));
      }
    } });
    const provinceName = prov().name;
    fill(panel,
      select("f-province", t("province"), state.province, provinces.map((p) => [p.id, `${p.name} (${p.csirt})`]), (e) => {
        state.province = e.target.value;
        sessionStorage.setItem("jagadesa.province", state.province);
        const bb = prov().bbox;
        map.fitBounds([[bb[0], bb[1]], [bb[2], bb[3]]], { padding: 20, duration: 0 });
        attribution.options.customAttribution = prov().attribution;
        refreshTiles();
        loadVillages();
      }),
      h("div", { class: "search" }, search, results),
      h("h2", {}, `${t("counts")}: ${num(monitored, 0)}`),
      h("ul", { class: "counts" }, statusKeys.map((s) => h("li", {}, badge(s), " ", num(counts[s] || 0, 0)))),
      h("h2", {}, t("filters")),
      select("f-status", t("status"), state.status, [["", t("all")], ...statusKeys.map((s) => [s, statusName(s)])], (e) => { state.status = e.target.value; reload(); }),
      select("f-cohort", t("cohort"), state.cohort, [["", t("all")], ["2022", "2022"], ["2023", "2023"], ["2024", "2024"]], (e) => { state.cohort = e.target.value; reload(); }),
      select("f-flag", t("flag"), state.flag, [["", t("all")], ["3t", t("flag_3t")], ["miskin", t("flag_miskin")], ["digital", t("flag_digital")], ["approximate", t("flag_approximate")]], (e) => { state.flag = e.target.value; reload(); }),
      h("label", { class: "check" }, h("input", { type: "checkbox", id: "f-programme", checked: state.programme, onchange: (e) => { state.programme = e.target.checked; reload(); } }), t("programme_only")),
      h("label", { class: "check" }, h("input", { type: "checkbox", id: "f-choropleth", checked: state.choropleth, disabled: state.readiness, onchange: (e) => { state.choropleth = e.target.checked; applyChoropleth(); renderPanel(); } }), t("choropleth")),
      h("label", { class: "check" }, h("input", { type: "checkbox", id: "f-readiness", checked: state.readiness, onchange: (e) => { state.readiness = e.target.checked; applyReadiness().catch(console.error); renderPanel(); } }), t("readiness_layer")),
      h("h2", {}, t("legend")),
      h("ul", { class: "legend" },
        statusKeys.map((s) => h("li", {}, h("span", { class: "dot", style: `background:${STATUS_COLOURS[s]}` }), statusName(s))),
        h("li", {}, h("span", { class: "dot big", style: `background:${STATUS_COLOURS.up}` }), t("programme_village")),
        h("li", {}, h("span", { class: "dot faint", style: `background:${STATUS_COLOURS.unknown}` }), t("not_monitored")),
        h("li", {}, h("span", { class: "dot ring", style: `border-color:${STATUS_COLOURS.down}` }), t("approximate")),
        state.choropleth && !state.readiness ? h("li", {}, h("span", { class: "ramp" }), `${t("up_pct")} 0 → 100`) : null,
        state.readiness ? READINESS_BANDS.map(([lo, hi, c]) => h("li", {}, h("span", { class: "dot", style: `background:${c}` }), `${t("readiness")} ${lo}–${hi}`)) : null,
        state.readiness ? h("li", {}, h("span", { class: "dot", style: "background:#c8c8c8" }), t("readiness_none")) : null),
      h("footer", { class: "credit", "data-testid": "attribution" }, `${provinceName}: ${prov().attribution}`),
    );
  }

  function reload() { refreshTiles(); loadVillages().catch(console.error); }

  setView("map", {
    relabel: renderPanel,
    destroy: () => { clearInterval(timer); map.remove(); window.jagadesa.map = null; window.jagadesa.ready = false; },
  });
  // Live data: the status changes every probe round; refresh every 30 s.
  const timer = setInterval(reload, 30000);

  await loadVillages();
  map.on("load", () => {
    applyChoropleth();
    map.once("idle", () => { window.jagadesa.ready = true; });
  });
}

// popupReason says why a village is not up, when the map data carries the
// reason code.
function popupReason(props, feature) {
  const p = feature ? feature.properties : {};
  const code = props.reason ?? p.reason;
  if (!code || props.status === "up") return null;
  return h("div", {}, `${t("reason")}: ${reasonText(code, props.silent_s ?? p.silent_s)}`);
}

function dist(map, f, point) {
  const p = map.project(f.geometry.coordinates);
  return (p.x - point.x) ** 2 + (p.y - point.y) ** 2;
}

// ---------------------------------------------------------------- village

async function villageView(code) {
  let range = sessionStorage.getItem("jagadesa.range") || "24h";
  const v = await api(`/api/v1/villages/${code}`);
  let hist = null;
  let target = null;
  let chart = null;
  const root = h("section", { class: "page village" });
  setView("village", { relabel: render, destroy: () => chart && chart.destroy() });
  view().replaceChildren(root);

  async function load() {
    hist = await api(`/api/v1/villages/${code}/history?range=${range}`).catch((err) => {
      if (err instanceof Unauthorized) throw err;
      return { error: err.message, targets: [], rtt: {}, uptime: [], outages: [], events: [], throughput: [] };
    });
    if (!target || !hist.targets.includes(target)) target = hist.targets[0] || null;
    render();
  }

  function render() {
    if (chart) { chart.destroy(); chart = null; }
    const p = v.programme;
    const yn = (b) => (b ? t("yes") : t("no"));
    const facts = [
      [t("code"), v.code], [t("district"), v.district],
      [t("regency"), h("a", { href: `/kabupaten/${v.regency_code}`, "data-link": true }, v.regency)],
      [t("cohort"), p ? p.year : "–"], [t("isp"), p ? p.isp : "–"], [t("contract"), p ? `${num(p.contract_mbps, 0)} Mbps` : "–"],
      [t("remote_3t"), p ? yn(p.remote_3t) : "–"], [t("extreme_poor"), p ? yn(p.extreme_poor) : "–"], [t("desa_digital"), p ? yn(p.desa_digital) : "–"],
      [t("idm"), v.idm ? `${v.idm.status} (${num(v.idm.score, 4)})` : "–"],
      [t("last_seen"), v.last_seen ? when(v.last_seen) : t("never")],
      [t("rtt"), `${num(v.rtt_ms)} ms`], [t("loss"), `${num(v.loss_pct)}%`],
      [t("reason"), v.reason ? reasonText(v.reason, v.silent_s) : "–"],
    ];
    // What the probe says this site lets it see (router or appliance).
    if (v.site) {
      facts.push([t("site_mode"), h("span", { "data-testid": "site-mode" }, has("mode_" + v.site.mode) ? t("mode_" + v.site.mode) : (v.site.mode || "–"))]);
      facts.push([t("site_cannot"), h("span", { "data-testid": "site-cannot" }, (v.site.cannot || []).length
        ? v.site.cannot.map((c) => (has("cannot_" + c) ? t("cannot_" + c) : c)).join(", ") : t("site_sees_all"))]);
    }
    // The hysteresis: a degradation too young to show, or a recovery too
    // young to trust, is visible as the latest round's own verdict.
    if (v.degraded_since) facts.push([t("degraded_since"), when(v.degraded_since)]);
    if (v.raw_status && v.raw_status !== v.status) {
      facts.push([t("latest_round"), h("span", { "data-testid": "village-raw-status" }, badge(v.raw_status), v.raw_reason ? " " + reasonText(v.raw_reason, v.silent_s) : "")]);
    }
    const rangeSel = h("select", { id: "range", onchange: (e) => { range = e.target.value; sessionStorage.setItem("jagadesa.range", range); load(); } },
      ["1h", "6h", "24h", "7d", "30d"].map((r) => h("option", { value: r, selected: r === range }, r)));
    const targetSel = h("select", { id: "target", onchange: (e) => { target = e.target.value; render(); } },
      (hist ? hist.targets : []).map((x) => h("option", { value: x, selected: x === target }, x)));
    const chartEl = h("div", { class: "chart", "data-testid": "latency-chart" });
    root.dataset.loaded = hist ? "true" : "false";
    fill(root,
      h("a", { href: "/", "data-link": true }, t("back_to_map")),
      h("h1", {}, h("span", { "data-testid": "village-title" }, v.name), " ", h("span", { "data-testid": "village-status" }, badge(v.status))),
      v.approximate ? h("p", { class: "muted" }, t("approximate")) : null,
      h("dl", { class: "facts" }, facts.flatMap(([k, val]) => [h("dt", {}, k), h("dd", {}, val)])),
      h("div", { class: "controls" }, h("label", { for: "range" }, t("range"), rangeSel), h("label", { for: "target" }, t("target"), targetSel)),
      h("h2", {}, t("latency")), chartEl,
      h("h2", {}, t("uptime")), uptimeStrip(hist ? hist.uptime : []),
      h("h2", {}, t("outages")), outageTable(hist ? hist.outages : []),
      h("h2", {}, t("throughput")), throughputTable(hist ? hist.throughput : [], p),
      h("h2", {}, t("events")), eventTable(hist ? hist.events : []),
      h("h2", {}, t("lan_tests")), lanTable(hist ? hist.lan_speedtests || [] : []),
      readinessSection(code),
    );
    if (hist && hist.error) chartEl.append(h("p", { class: "error" }, hist.error));
    chart = smokeChart(chartEl, hist && target ? hist.rtt[target] || [] : [], hist);
  }
  render();
  await load();
}

// smokeChart draws SmokePing's "smoke": the median as a line over bands of
// the RTT spread (min–max, p10–p90, p25–p75, darker towards the median),
// with the window's loss as bars coloured like SmokePing's loss palette.
function smokeChart(el, rows, hist) {
  const xs = rows.map((r) => Date.parse(r.t) / 1000);
  const col = (k) => rows.map((r) => (r[k] === null || r[k] === undefined ? null : r[k]));
  const lossBands = [[0, 5, "#00b8ff"], [5, 10, "#0059ff"], [10, 25, "#7e00ff"], [25, 50, "#ff00ff"], [50, 100.1, "#ff0000"]];
  const loss = col("loss_pct");
  const lossSeries = lossBands.map(([lo, hi]) => loss.map((l) => (l !== null && l > lo && l <= hi ? l : null)));
  const data = [xs, col("max"), col("p90"), col("p75"), col("median"), col("p25"), col("p10"), col("min"), ...lossSeries];
  const edge = (label) => ({ label, stroke: "transparent", points: { show: false }, value: (u, v) => (v === null ? "–" : num(v) + " ms") });
  const fmtTime = (u, v) => (v === null ? "–" : when(new Date(v * 1000).toISOString()));
  const opts = {
    width: Math.max(320, el.clientWidth || 900), height: 280,
    scales: {
      // The whole requested range, so a gap at the end reads as a gap.
      x: { time: true, range: hist && hist.from ? [Date.parse(hist.from) / 1000, Date.parse(hist.to) / 1000] : undefined },
      ms: { auto: true, range: (u, lo, hi) => [0, Math.max(1, hi * 1.1)] },
      loss: { range: [0, 100] },
    },
    axes: [{}, { scale: "ms", label: "ms" }, { scale: "loss", side: 1, label: `${t("loss")} %`, grid: { show: false } }],
    series: [
      { value: fmtTime },
      { ...edge("max"), scale: "ms" }, { ...edge("p90"), scale: "ms" }, { ...edge("p75"), scale: "ms" },
      { label: "median", scale: "ms", stroke: "#111", width: 1.5, points: { show: rows.length < 30, size: 4, fill: "#111" }, value: (u, v) => (v === null ? "–" : num(v) + " ms") },
      { ...edge("p25"), scale: "ms" }, { ...edge("p10"), scale: "ms" }, { ...edge("min"), scale: "ms" },
      ...lossBands.map(([lo, hi, colour]) => ({
        label: `${t("loss")} ${lo}–${Math.round(hi)}%`, scale: "loss", stroke: colour, fill: colour + "aa",
        paths: uPlot.paths.bars({ size: [0.6, 8] }), points: { show: false }, value: (u, v) => (v === null ? "–" : num(v) + "%"),
      })),
    ],
    bands: [
      { series: [1, 7], fill: "rgba(0,0,0,0.10)" },
      { series: [2, 6], fill: "rgba(0,0,0,0.18)" },
      { series: [3, 5], fill: "rgba(0,0,0,0.30)" },
    ],
  };
  if (!rows.length) el.append(h("p", { class: "muted" }, t("no_data")));
  return new uPlot(opts, data, el);
}

function uptimeStrip(steps) {
  const strip = h("div", { class: "uptime", "data-testid": "uptime-strip" },
    steps.map((s) => h("span", { style: `background:${UPTIME_COLOURS[s.state] || UPTIME_COLOURS.nodata}`, title: `${when(s.t)} — ${t(s.state + "_state")}` })));
  const legend = h("ul", { class: "legend inline" },
    Object.entries(UPTIME_COLOURS).map(([k, c]) => h("li", {}, h("span", { class: "dot square", style: `background:${c}` }), t(k + "_state"))));
  return h("div", {}, strip, legend);
}

function table(headers, rows) {
  if (!rows.length) return h("p", { class: "muted" }, t("none"));
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

function outageTable(outages) {
  return table([t("start"), t("end"), t("duration"), t("cause")],
    [...outages].reverse().map((o) => [when(o.start), o.end ? when(o.end) : t("ongoing"), duration(o.duration_s), t("cause_" + (o.cause || "unknown"))]));
}

function throughputTable(tests, p) {
  const pct = (x) => (p && p.contract_mbps && x !== null ? ` (${num((100 * x) / p.contract_mbps, 0)}% ${t("of_contract")})` : "");
  return table([t("time"), t("download"), t("upload")],
    [...tests].reverse().slice(0, 20).map((x) => [when(x.t), x.download_mbps === null ? "–" : `${num(x.download_mbps)} Mbps${pct(x.download_mbps)}`,
      x.upload_mbps === null ? "–" : `${num(x.upload_mbps)} Mbps`]));
}

// lanTable lists villagers' own speed tests from the probe's page: the
// phone's speed over the village LAN beside the WAN's of the same minute.
function lanTable(tests) {
  if (!tests.length) return h("p", { class: "muted" }, t("lan_none"));
  return table([t("time"), t("lan_phone"), t("rtt"), t("lan_wan"), t("lan_verdict")], tests.slice().reverse().map((x) => [
    when(x.t), `${num(x.down_mbps)} / ${num(x.up_mbps)} Mbps`, `${num(x.rtt_ms)} ms`,
    x.wan_down_mbps === undefined || x.wan_down_mbps === null ? "–" : `${num(x.wan_down_mbps)} Mbps`,
    h("span", { "data-testid": "lan-verdict" }, t("lan_verdict_" + x.verdict))]));
}

function eventTable(events) {
  return table([t("time"), t("kind"), t("severity"), t("message")], events.map((e) => [when(e.t), e.kind, e.severity, e.message]));
}

// ---------------------------------------------------------------- regency

async function regencyView(code) {
  const data = await api(`/api/v1/regencies/${code}`);
  const root = h("section", { class: "page regency" });
  let sortKey = "code", sortDir = 1;
  setView("regency", { relabel: render });
  view().replaceChildren(root);

  const covCells = (c) => [num(c.villages, 0), num(c.programme, 0), num(c.monitored, 0), num(c.up, 0), num(c.degraded, 0),
    num(c.down, 0), num(c.unknown, 0), num(c.up_pct), c.median_rtt_ms === null ? "–" : `${num(c.median_rtt_ms)} ms`,
    c.median_loss_pct === null ? "–" : `${num(c.median_loss_pct)}%`];
  const covHeads = () => [t("villages"), t("programme"), t("monitored"), statusName("up"), statusName("degraded"), statusName("down"),
    statusName("unknown"), t("up_pct"), t("median_rtt"), t("median_loss")];
  const covKeys = ["villages", "programme", "monitored", "up", "degraded", "down", "unknown", "up_pct", "median_rtt_ms", "median_loss_pct"];

  function render() {
    const r = data.regency;
    const districts = [...data.districts].sort((a, b) => {
      const x = a[sortKey], y = b[sortKey];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * sortDir;
    });
    const head = (label, key) => h("th", { class: "sortable", onclick: () => { sortDir = sortKey === key ? -sortDir : 1; sortKey = key; render(); } },
      label, sortKey === key ? (sortDir > 0 ? " ▲" : " ▼") : "");
    const cohortRows = Object.entries(data.cohorts).sort();
    const maxProg = Math.max(1, ...cohortRows.map(([, c]) => c.programme));
    fill(root,
      h("a", { href: "/", "data-link": true }, t("back_to_map")),
      h("h1", { "data-testid": "regency-title" }, r.name),
      h("table", { class: "summary" }, h("thead", {}, h("tr", {}, covHeads().map((x) => h("th", {}, x)))), h("tbody", {}, h("tr", {}, covCells(r).map((c) => h("td", {}, c))))),
      h("h2", {}, t("worst")),
      table([t("villages"), t("district"), t("status"), t("reason"), t("rtt"), t("loss"), t("last_seen")],
        data.worst.map((v) => [h("a", { href: `/desa/${v.code}`, "data-link": true }, v.name), v.district, badge(v.status),
          v.reason && v.status !== "up" ? reasonText(v.reason, v.silent_s) : "–",
          v.rtt_ms === null ? "–" : `${num(v.rtt_ms)} ms`, v.loss_pct === null ? "–" : `${num(v.loss_pct)}%`, v.last_seen ? when(v.last_seen) : t("never")])),
      h("h2", {}, t("cohorts")),
      table([t("cohort"), ...covHeads()], cohortRows.map(([y, c]) => [y, ...covCells(c)])),
      h("div", { class: "bars" }, cohortRows.map(([y, c]) => h("div", { class: "bar" },
        h("span", { class: "label" }, y),
        h("span", { class: "fill", style: `width:${(100 * c.programme) / maxProg}%` },
          h("span", { class: "up", style: `width:${c.programme ? (100 * c.up) / c.programme : 0}%` })),
        h("span", { class: "value" }, `${num(c.up, 0)} / ${num(c.programme, 0)} ${statusName("up").toLowerCase()}`)))),
      h("h2", {}, t("district")),
      h("table", { class: "districts" },
        h("thead", {}, h("tr", {}, head(t("code"), "code"), head(t("district"), "name"), covHeads().map((x, i) => head(x, covKeys[i])))),
        h("tbody", {}, districts.map((d) => h("tr", {}, h("td", {}, d.code), h("td", {}, d.name), covCells(d).map((c) => h("td", {}, c)))))),
    );
  }
  render();
}

// -------------------------------------------------------------- incidents

const SEVERITY_COLOURS = { critical: "#d7301f", warning: "#e0a100", info: "#1f78b4" };

function sevBadge(sev) {
  return h("span", { class: "badge", style: `background:${SEVERITY_COLOURS[sev] || "#888"}` }, has("severity_" + sev) ? t("severity_" + sev) : sev);
}

function stateBadge(st) {
  const c = { open: "#d7301f", acknowledged: "#e0a100", resolved: "#2e9e44" }[st] || "#888";
  return h("span", { class: "badge", "data-testid": "incident-state", style: `background:${c}` }, t("state_" + st));
}

async function act(id, action, body) {
  return api(`/api/v1/incidents/${id}/${action}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: body ? JSON.stringify(body) : undefined,
  });
}

// places holds registry entries by village code, so incident titles, lists
// and evidence can name villages whichever page brought the data.
const places = new Map();
const placeMisses = new Set();
let placesLoading = null;

function remember(villages) {
  for (const v of villages || []) if (v && v.code) places.set(v.code, v);
}

// ensurePlaces loads the monitored villages once, then asks for the few
// codes still unknown one by one.
async function ensurePlaces(codes) {
  if (!placesLoading) {
    placesLoading = api("/api/v1/villages").then((r) => remember(r.villages)).catch((err) => {
      placesLoading = null;
      if (err instanceof Unauthorized) throw err;
    });
  }
  await placesLoading;
  const missing = [...new Set(codes)].filter((c) => c && !places.has(c) && !placeMisses.has(c)).slice(0, 20);
  await Promise.all(missing.map((c) => api(`/api/v1/villages/${encodeURIComponent(c)}`).then((v) => remember([v])).catch((err) => {
    if (err instanceof Unauthorized) throw err;
    placeMisses.add(c);
  })));
}

function placeName(code) {
  const v = places.get(code);
  return v ? v.name : code;
}

// incidentPlace names an incident's single village; the stored title ends
// with the name when the registry cannot be asked.
function incidentPlace(i) {
  const code = (i.villages || [])[0] || i.village;
  if (places.has(code)) return places.get(code).name;
  const tail = (i.title || "").split(" — ");
  return tail.length > 1 ? tail.pop() : code || "–";
}

// groupText names a group key: district:<code>, regency:<code>, isp:<name>
// or source:<address>.
function groupText(g, short) {
  const at = String(g).indexOf(":");
  const kind = at < 0 ? "" : g.slice(0, at), val = at < 0 ? g : g.slice(at + 1);
  const find = (f) => { for (const v of places.values()) if (f(v)) return v; return null; };
  switch (kind) {
    case "district": {
      const v = find((p) => p.district_code === val);
      return tf("group_district", { name: v ? `${v.district}, ${v.regency}` : val });
    }
    case "regency": {
      const v = find((p) => p.regency_code === val);
      return v ? v.regency : tf("group_regency_code", { code: val });
    }
    case "isp": return tf(short ? "group_isp_short" : "group_isp", { name: val });
    case "source": return tf("group_source", { ip: val });
  }
  return g;
}

const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };

function signalName(kind) { return has("sig_" + kind) ? t("sig_" + kind) : kind; }

// midSentence lowercases a text's first letter unless it starts an
// acronym ("MAC gateway …").
function midSentence(s) {
  return s.length > 1 && s[1] === s[1].toLowerCase() ? s[0].toLowerCase() + s.slice(1) : s;
}

function topSignal(i) {
  return [...(i.signals || [])].sort((a, b) => (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3) || (b.count || 0) - (a.count || 0))[0];
}

// incidentTitle composes the title in the chosen language from the
// incident's codes; the stored title (Indonesian) is the last resort.
function incidentTitle(i) {
  const ev = i.evidence || {};
  const n = (i.villages || []).length;
  const group = ev.group || "";
  if (group.startsWith("source:")) return tf(n === 1 ? "title_campaign_one" : "title_campaign", { ip: group.slice(7), n: num(n, 0) });
  if (i.kind === "regional_outage") return tf(n === 1 ? "title_regional_one" : "title_regional", { n: num(n, 0), area: group ? groupText(group) : "–" });
  if (!has("kind_" + i.kind)) return i.title || i.id;
  const kind = t("kind_" + i.kind), name = incidentPlace(i);
  const sig = i.kind === "security" ? topSignal(i) : null;
  if (sig) return tf("title_security", { kind, signal: midSentence(signalName(sig.kind)), name });
  if (i.kind === "degraded" && ev.reason) return tf("title_with_reason", { kind, reason: reasonText(ev.reason, ev.silent_s), name });
  return tf("title_village", { kind, name });
}

// incidentVillages is the queue's villages column: the area of a group,
// else the village and how many more.
function incidentVillages(i) {
  const n = (i.villages || []).length;
  const group = (i.evidence || {}).group;
  if (group) return `${groupText(group, true)} (${num(n, 0)})`;
  return `${incidentPlace(i)}${n > 1 ? ` (+${num(n - 1, 0)})` : ""}`;
}

function causeText(c) { return has("cause_" + c) ? t("cause_" + c) : c; }

// Evidence keys in the order people read them; others follow, sorted.
const EVIDENCE_ORDER = ["reason", "silent_s", "anomaly", "rtt_ms", "normal_rtt_ms", "loss_pct", "normal_loss_pct", "jitter_ms",
  "normal_jitter_ms", "download_pct_of_contract", "cause", "last_seen", "group", "source"];

function evidenceRows(ev) {
  ev = ev || {};
  const keys = Object.keys(ev).filter((k) => ev[k] !== "" && ev[k] !== null && ev[k] !== undefined);
  const known = EVIDENCE_ORDER.filter((k) => keys.includes(k) && !(k === "silent_s" && ev.reason === "silent"));
  const rest = keys.filter((k) => !EVIDENCE_ORDER.includes(k)).sort();
  return [...known, ...rest].map((k) => [evidenceLabel(k), evidenceValue(k, ev[k], ev)]);
}

function evidenceLabel(k) {
  if (k.startsWith("cause:")) return tf("ev_cause_village", { name: placeName(k.slice(6)) });
  return has("ev_" + k) ? t("ev_" + k) : k;
}

function evidenceValue(k, v, ev) {
  const x = Number(v);
  const isNum = String(v).trim() !== "" && Number.isFinite(x);
  switch (k) {
    case "reason": return reasonText(String(v), ev.silent_s);
    case "silent_s": return isNum ? humanDuration(x) : v;
    case "last_seen": return Number.isNaN(Date.parse(v)) ? v : when(v);
    case "rtt_ms": case "normal_rtt_ms": case "jitter_ms": case "normal_jitter_ms": return isNum ? `${num(x)} ms` : v;
    case "loss_pct": case "normal_loss_pct": return isNum ? `${num(x)}%` : v;
    case "download_pct_of_contract": return isNum ? `${num(x)}% ${t("of_contract")}` : v;
    case "anomaly": return String(v).split(",").map((m) => m.trim()).map((m) => (has("metric_" + m) ? t("metric_" + m) : m)).join(", ");
    case "cause": return causeText(v);
    case "group": return groupText(v, true);
  }
  if (k.startsWith("cause:")) return causeText(v);
  return v;
}

// evidenceTable is the evidence as label and value, in the chosen language.
function evidenceTable(ev) {
  const rows = evidenceRows(ev);
  if (!rows.length) return h("p", { class: "muted" }, t("none"));
  return h("table", { class: "evidence", "data-testid": "evidence" },
    h("thead", {}, h("tr", {}, h("th", {}, t("ev_item")), h("th", {}, t("ev_value")))),
    h("tbody", {}, rows.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v)))));
}

// probeWords shows a signal's message and attributes as the probe wrote
// them: text, never markup.
function probeWords(s) {
  const attrs = Object.entries(s.attrs || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (!s.message && !attrs.length) return "–";
  return h("div", { class: "probe-words" },
    s.message ? h("div", {}, h("q", {}, s.message)) : null,
    attrs.length ? h("ul", { class: "attrs" }, attrs.map(([k, v]) => h("li", {}, h("code", {}, k), " ", String(v)))) : null);
}

function signalsSection(i) {
  const sigs = i.signals || [];
  if (!sigs.length && !i.signals_dropped) return null;
  const withVillage = sigs.some((s) => s.village && s.village !== i.village);
  const heads = [t("kind"), t("severity"), withVillage ? t("villages") : null, t("source"), t("count"), t("first_seen"), t("last_seen"), t("from_probe")];
  const rows = sigs.map((s) => [signalName(s.kind), s.severity ? sevBadge(s.severity) : "–",
    withVillage ? (s.village ? h("a", { href: `/desa/${s.village}`, "data-link": true }, placeName(s.village)) : "–") : null,
    s.source || "–", num(s.count, 0), when(s.first_seen), when(s.last_seen), probeWords(s)]);
  return [
    h("h2", {}, t("signals")),
    table(heads.filter((x) => x !== null), rows.map((r) => r.filter((c, n) => heads[n] !== null))),
    i.signals_dropped ? h("p", { class: "muted", "data-testid": "signals-dropped" }, tf("signals_dropped", { n: num(i.signals_dropped, 0) })) : null,
  ];
}

// Go's time.Duration text ("1h30m0s") in seconds; null when it is not one.
function goDuration(s) {
  const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(s);
  if (!m || !s) return null;
  return 3600 * Number(m[1] || 0) + 60 * Number(m[2] || 0) + Number(m[3] || 0);
}

// auditDetail puts a system entry's code in words; a person's text, and
// anything not in the expected shape, is shown as it is.
function auditDetail(a) {
  const d = a.detail || "";
  if (!d) return "";
  switch (a.action) {
    case "resolved": return has("resolved_" + d) ? t("resolved_" + d) : d;
    case "merged":
      return /^[A-Za-z0-9_-]{1,64}$/.test(d) ? h("a", { href: `/insiden/${d}`, "data-link": true }, `${t("merged_into")} ${d}`) : d;
    case "opened":
      if (has("kind_" + d)) return t("kind_" + d);
      return /^(district|regency|isp|source):/.test(d) ? groupText(d) : d;
    case "grown": {
      const [from, to] = d.split(" → ");
      return to ? tf("grown_detail", { from: groupText(from), to: groupText(to) }) : d;
    }
    case "village_added": return places.has(d) ? placeName(d) : d;
    case "stage": return has("stage_" + d) ? t("stage_" + d) : d;
    case "evidence": return /^\d+$/.test(d) ? tf(d === "1" ? "evidence_detail_one" : "evidence_detail", { n: num(Number(d), 0) }) : signalName(d);
    case "raised": return signalName(d);
    case "classified": {
      const [cause, start, end, ...more] = d.split(/\s+/).filter((x) => x && x !== "–" && x !== "-");
      if (more.length || !end || Number.isNaN(Date.parse(start)) || Number.isNaN(Date.parse(end))) return d;
      return `${causeText(cause.replace(/:$/, ""))}: ${when(start)} – ${when(end)}`;
    }
    case "escalated": {
      const m = /^(.+?) → (.+) (\S+)$/.exec(d);
      const secs = m ? goDuration(m[3]) : null;
      return secs === null ? d : tf("escalated_detail", { team: m[1], prov: m[2], d: humanDuration(secs) });
    }
  }
  return d;
}

// auditAction is the action in words, with its code beside it: the code is
// what the API, the CSV report and the logs call it.
function auditAction(code) {
  if (!has("action_" + code)) return code;
  const label = t("action_" + code);
  return label === code ? label : [label, " ", h("code", { class: "muted" }, code)];
}

function auditBy(by) {
  if (by === "system") return t("by_system");
  if (by === "probe") return t("by_probe");
  return by;
}

// incidentsView is the CSIRT's queue: newest first, filtered by state,
// with acknowledge and resolve at hand.
async function incidentsView() {
  // "active" (the default) is what still needs people: open and acknowledged.
  let state = sessionStorage.getItem("jagadesa.incstate") ?? "active";
  let data = { incidents: [] };
  const root = h("section", { class: "page incidents" });
  const load = async () => {
    data = await api("/api/v1/incidents?limit=500" + (state && state !== "active" ? "&status=" + state : ""));
    if (state === "active") data.incidents = data.incidents.filter((i) => i.status !== "resolved");
    render();
    const codes = data.incidents.flatMap((i) => i.villages || []);
    if (codes.some((c) => !places.has(c) && !placeMisses.has(c))) {
      await ensurePlaces(codes);
      render();
    }
  };
  function render() {
    const sel = h("select", { id: "inc-state", onchange: (e) => { state = e.target.value; sessionStorage.setItem("jagadesa.incstate", state); load(); } },
      [["active", t("state_active")], ["", t("all")], ["open", t("state_open")], ["acknowledged", t("state_acknowledged")], ["resolved", t("state_resolved")]]
        .map(([v, l]) => h("option", { value: v, selected: v === state }, l)));
    fill(root,
      h("h1", {}, t("incident_queue")),
      h("div", { class: "controls" }, h("label", { for: "inc-state" }, t("status"), sel),
        h("a", { href: "/api/v1/reports/incidents?format=csv", download: true }, t("report_csv")),
        can("security_evidence") ? h("a", { href: "/api/v1/reports/security.stix", download: true, id: "stix-export", title: t("stix_export_hint") }, t("stix_export")) : null),
      table([t("opened"), t("kind"), t("severity"), t("villages"), t("csirt"), t("status"), t("actions")],
        data.incidents.map((i) => [
          when(i.opened_at),
          h("a", { href: `/insiden/${i.id}`, "data-link": true, title: incidentTitle(i) }, has("kind_" + i.kind) ? t("kind_" + i.kind) : i.kind),
          [sevBadge(i.severity), i.priority ? h("span", { class: "tag" }, t("priority")) : null, i.escalated ? h("span", { class: "tag" }, t("escalated")) : null],
          incidentVillages(i),
          i.csirt,
          [stateBadge(i.status), i.merged_into ? h("div", { class: "muted" }, `${t("merged_into")} ${i.merged_into}`) : null],
          (data.actionable || []).includes(i.id) ? [
            i.status === "open" ? h("button", { type: "button", "data-testid": "ack", onclick: async () => { await act(i.id, "ack"); load(); } }, t("ack")) : null,
            i.status !== "resolved" ? h("button", { type: "button", onclick: async () => { await act(i.id, "resolve"); load(); } }, t("resolve")) : null,
          ] : null,
        ])),
    );
  }
  setView("incidents", { relabel: render, destroy: () => clearInterval(timer) });
  view().replaceChildren(root);
  const timer = setInterval(() => load().catch(console.error), 15000);
  await load();
}

async function incidentView(id) {
  let data = await api(`/api/v1/incidents/${id}`);
  remember(data.villages);
  const root = h("section", { class: "page incident" });
  const reload = async () => { data = await api(`/api/v1/incidents/${id}`); remember(data.villages); render(); };
  function render() {
    const i = data.incident;
    const note = h("textarea", { id: "note-text", rows: 3, maxlength: 4000 });
    const stage = h("select", { id: "stage", onchange: async (e) => { await act(id, "stage", { stage: e.target.value }); reload(); } },
      ["identification", "containment", "recovery"].map((s) => h("option", { value: s, selected: s === i.stage }, t("stage_" + s))));
    fill(root,
      h("a", { href: "/insiden", "data-link": true }, "← " + t("incident_queue")),
      h("h1", {}, h("span", { "data-testid": "incident-title" }, incidentTitle(i)), " ", stateBadge(i.status)),
      h("dl", { class: "facts" },
        h("dt", {}, t("kind")), h("dd", {}, has("kind_" + i.kind) ? t("kind_" + i.kind) : i.kind),
        h("dt", {}, t("severity")), h("dd", {}, sevBadge(i.severity), i.priority ? h("span", { class: "tag" }, t("priority")) : null),
        h("dt", {}, t("csirt")), h("dd", {}, i.csirt, i.escalated ? h("span", { class: "tag" }, t("escalated")) : null),
        h("dt", {}, t("started")), h("dd", {}, when(i.started_at)),
        h("dt", {}, t("opened")), h("dd", {}, when(i.opened_at)),
        h("dt", {}, t("end")), h("dd", {}, i.ended_at ? when(i.ended_at) : t("ongoing")),
        h("dt", {}, t("stage")), h("dd", {}, i.status === "resolved" || !data.can_act ? t("stage_" + i.stage) : stage),
        h("dt", {}, t("assignee")), h("dd", {}, i.assignee || "–"),
        i.muted ? [h("dt", {}, t("muted")), h("dd", {}, i.muted)] : null,
      ),
      data.can_act ? h("div", { class: "controls" },
        i.status === "open" ? h("button", { type: "button", "data-testid": "ack", onclick: async () => { await act(id, "ack"); reload(); } }, t("ack")) : null,
        i.status !== "resolved" ? h("button", { type: "button", "data-testid": "resolve", onclick: async () => { await act(id, "resolve"); reload(); } }, t("resolve")) : null)
        : h("p", { class: "muted", id: "view-only" }, t("view_only")),
      h("h2", {}, t("villages")),
      h("ul", {}, data.villages.map((v) => h("li", {}, h("a", { href: `/desa/${v.code}`, "data-link": true }, v.name), ` — Kec. ${v.district}, ${v.regency}`))),
      h("h2", {}, t("evidence")),
      evidenceTable(i.evidence),
      signalsSection(i),
      h("h2", {}, t("notes")),
      table([t("time"), t("by"), t("message")], data.notes.map((n) => [when(n.at), n.by, n.text])),
      data.can_act ? h("form", { class: "note", onsubmit: async (e) => {
        e.preventDefault();
        if (!note.value.trim()) return;
        await act(id, "notes", { text: note.value });
        reload();
      } }, note, h("button", { type: "submit", id: "note-submit" }, t("add_note"))) : null,
      h("h2", {}, t("audit")),
      table([t("time"), t("by"), t("actions"), t("message")], (data.audit || []).map((a) => [when(a.at), auditBy(a.by), auditAction(a.action), auditDetail(a)])),
    );
  }
  setView("incident", { relabel: render });
  view().replaceChildren(root);
  render();
  // Signals of a campaign may come from villages the page has not named.
  const codes = (data.incident.signals || []).map((s) => s.village).filter((c) => c && !places.has(c));
  if (codes.length) {
    await ensurePlaces(codes);
    if (current && current.relabel === render) render();
  }
}

// -------------------------------------------------------------- readiness

const READINESS_BANDS = [[0, 25, "#d7301f"], [25, 50, "#fc8d59"], [50, 75, "#91cf60"], [75, 100, "#1a9850"]];

function readinessColour(score, partial) {
  const band = READINESS_BANDS.find(([lo, hi]) => score < hi) || READINESS_BANDS[READINESS_BANDS.length - 1];
  return partial ? band[2] + "88" : band[2];
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function scoreText(r) {
  if (r.score !== null && r.score !== undefined) return num(r.score, 1);
  if (r.partial_score !== null && r.partial_score !== undefined) return `– (${t("partial")} ${num(r.partial_score, 1)})`;
  return "–";
}

const pillarKeys = ["connectivity", "use", "village", "governance"];

// readinessSection explains a village's score pillar by pillar; a province
// admin can enter the governance pillar here.
function readinessSection(code) {
  const box = h("section", { class: "readiness", "data-testid": "readiness" }, h("h2", {}, t("readiness")), h("p", { class: "muted" }, t("loading")));
  (async () => {
    let r;
    try { r = await api(`/api/v1/readiness/villages/${code}`); } catch (err) { fill(box, h("h2", {}, t("readiness")), h("p", { class: "error" }, err.message)); return; }
    const lbl = (x) => (currentLang() === "id" ? x.label_id : x.label_en);
    const parts = [
      h("h2", {}, t("readiness")),
      h("p", { class: "score" }, h("strong", { "data-testid": "readiness-score" }, scoreText(r)), ` / 100 · ${t("month")} ${r.month}`),
      r.missing && r.missing.length ? h("p", { class: "muted", "data-testid": "readiness-missing" }, `${t("readiness_missing")}: ${r.missing.map((k) => t("pillar_" + k)).join(", ")}`) : null,
    ];
    for (const p of r.detail || []) {
      parts.push(h("h3", {}, `${lbl(p)} (${num(p.weight * 100, 0)}%): `, h("span", { "data-testid": "pillar-" + p.key }, p.score === null ? t("no_data") : num(p.score, 1)),
        p.idm_band ? ` · ${currentLang() === "id" ? p.idm_band.label_id : p.idm_band.label_en}` : ""));
      parts.push(table([t("component"), t("value"), t("goalposts"), t("weight"), t("score")], p.components.map((c) => [
        lbl(c), c.raw === null ? t("no_data") : `${num(c.raw, 2)} ${c.unit || ""}`, `${num(c.goalposts.worst, 2)} → ${num(c.goalposts.best, 2)}`,
        `${num(c.weight * 100, 0)}%`, c.score === null ? "–" : num(c.score, 1)])));
    }
    if (me && me.role && (me.role === "province-admin" || me.role === "admin")) {
      const g = r.governance || { website: false, app: false, online_services: 0, note: "" };
      const web = h("input", { type: "checkbox", id: "gov-website", checked: g.website });
      const app = h("input", { type: "checkbox", id: "gov-app", checked: g.app });
      const svc = h("input", { type: "number", id: "gov-services", min: 0, max: 50, value: g.online_services });
      const note = h("input", { type: "text", id: "gov-note", maxlength: 500, value: g.note || "" });
      const msg = h("span", { class: "muted" });
      parts.push(h("form", { class: "inline", id: "gov-form", onsubmit: async (e) => {
        e.preventDefault();
        try {
          await api(`/api/v1/governance/${code}`, { method: "PUT", headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ website: web.checked, app: app.checked, online_services: Number(svc.value), note: note.value }) });
          box.replaceWith(readinessSection(code));
        } catch (err) { msg.textContent = err.message; }
      } }, h("strong", {}, t("governance_edit")), h("label", {}, web, t("gov_website")), h("label", {}, app, t("gov_app")),
        h("label", {}, t("gov_services"), svc), h("label", {}, t("gov_note"), note), h("button", { type: "submit" }, t("save")), msg));
    }
    fill(box, parts);
  })();
  return box;
}

async function readinessView() {
  const q = new URLSearchParams(location.search);
  const f = { regency: q.get("regency") || "", cohort: q.get("cohort") || "", flag: q.get("flag") || "", q: q.get("q") || "" };
  let data = { villages: [], total: 0 };
  let regencies = [];
  try { regencies = (await api("/api/v1/regencies")).regencies || []; } catch { /* the filter lists none */ }
  const root = h("section", { class: "page ranking" });
  const query = () => {
    const u = new URLSearchParams({ limit: "500" });
    for (const [k, v] of Object.entries(f)) if (v) u.set(k, v);
    return u;
  };
  const load = async () => { data = await api("/api/v1/readiness?" + query()); render(); };
  function render() {
    const sel = (id, key, options) => h("select", { id, onchange: (e) => { f[key] = e.target.value; load(); } },
      options.map(([v, l]) => h("option", { value: v, selected: v === f[key] }, l)));
    const search = h("input", { id: "rk-q", type: "search", value: f.q, placeholder: t("search"), onchange: (e) => { f.q = e.target.value.trim(); load(); } });
    fill(root,
      h("h1", {}, t("readiness_title")),
      h("p", { class: "muted" }, t("readiness_help")),
      h("div", { class: "controls" },
        h("label", {}, t("regency"), sel("rk-regency", "regency", [["", t("all")], ...regencies.map((r) => [r.code, r.name])])),
        h("label", {}, t("cohort"), sel("rk-cohort", "cohort", [["", t("all")], ["2022", "2022"], ["2023", "2023"], ["2024", "2024"]])),
        h("label", {}, t("flag"), sel("rk-flag", "flag", [["", t("all")], ["3t", t("flag_3t")], ["miskin", t("flag_miskin")], ["digital", t("flag_digital")]])),
        search,
        h("a", { href: "/api/v1/readiness?format=csv&" + query(), download: true, id: "rk-csv" }, "CSV")),
      h("p", {}, `${num(data.total, 0)} ${t("villages")} · ${t("month")} ${data.month || ""}`),
      table(["#", t("villages"), t("regency"), t("readiness"), ...pillarKeys.map((k) => t("pillar_" + k)), t("idm")],
        data.villages.map((r) => [r.rank, h("a", { href: `/desa/${r.code}`, "data-link": true, "data-code": r.code }, r.name, r.desa_digital ? h("span", { class: "tag" }, t("flag_digital")) : null),
          r.regency, h("span", { class: "readiness-score" }, scoreText(r)), ...pillarKeys.map((k) => (r.pillars[k] === null ? "–" : num(r.pillars[k], 1))), r.idm_band || "–"])),
    );
  }
  setView("readiness", { relabel: render });
  view().replaceChildren(root);
  await load();
}

// ---------------------------------------------------------------- reports

// reportView shows a monthly report as a printable page (the browser's
// print makes it paper), with the PDF, XLSX and CSV the server renders.
async function reportView() {
  const q = new URLSearchParams(location.search);
  const wibMonth = () => new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Jakarta", year: "numeric", month: "2-digit" }).format(new Date()).slice(0, 7);
  const f = { kind: q.get("kind") || "sla", month: q.get("month") || wibMonth() };
  const root = h("section", { class: "page report" });
  let doc = null, error = "";
  const query = (format) => `/api/v1/reports/monthly/${f.kind}?month=${encodeURIComponent(f.month)}&lang=${currentLang()}&format=${format}`;
  const load = async () => {
    try { doc = await api(query("json")); error = ""; } catch (err) { if (err instanceof Unauthorized) throw err; doc = null; error = err.message; }
    render();
  };
  const cellText = (c, col) => {
    if (c.Num === null || c.Num === undefined) return c.Text || "–";
    const d = [0, 0, 1, 1, 2, 0][col.Format] ?? 1;
    return num(c.Num, d);
  };
  function render() {
    const kindSel = h("select", { id: "rp-kind", onchange: (e) => { f.kind = e.target.value; load(); } },
      [["sla", t("report_sla")], ["readiness", t("report_readiness")], ["csirt", t("report_csirt")]].map(([v, l]) => h("option", { value: v, selected: v === f.kind }, l)));
    const monthIn = h("input", { type: "month", id: "rp-month", value: f.month, onchange: (e) => { f.month = e.target.value || wibMonth(); load(); } });
    fill(root,
      h("div", { class: "controls noprint" }, h("label", {}, t("report"), kindSel), h("label", {}, t("audit_month"), monthIn),
        ["pdf", "xlsx", "csv"].map((fmt) => h("a", { href: query(fmt), download: true, id: "rp-" + fmt }, fmt.toUpperCase())),
        h("button", { type: "button", id: "rp-print", onclick: () => window.print() }, t("print"))),
      error ? h("p", { class: "error" }, error) : null,
      doc ? [
        h("h1", { "data-testid": "report-title" }, doc.Title), h("p", { class: "muted" }, doc.Subtitle),
        (doc.Sections || []).map((sec) => h("div", { class: "report-section" }, h("h2", {}, sec.Heading),
          h("table", { class: "report-table" },
            h("thead", {}, h("tr", {}, sec.Table.Columns.map((c) => h("th", { class: c.Format ? "num" : "" }, c.Heading)))),
            h("tbody", {}, (sec.Table.Rows || []).map((row) => h("tr", {}, row.map((c, i) => h("td", { class: sec.Table.Columns[i].Format ? "num" : "" }, cellText(c, sec.Table.Columns[i]))))))),
          (sec.Notes || []).map((n) => h("p", { class: "note" }, n)))),
      ] : null);
    root.dataset.loaded = doc ? "true" : "false";
  }
  setView("report", { relabel: load });
  view().replaceChildren(root);
  await load();
}

// ------------------------------------------------------------------ audit

async function auditView() {
  const wibMonth = () => new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Jakarta", year: "numeric", month: "2-digit" }).format(new Date()).slice(0, 7);
  let month = new URLSearchParams(location.search).get("month") || wibMonth();
  let team = new URLSearchParams(location.search).get("team") || "";
  let data = { events: [] };
  const root = h("section", { class: "page audit" });
  const query = () => `month=${encodeURIComponent(month)}` + (team ? `&team=${encodeURIComponent(team)}` : "");
  const load = async () => { data = await api("/api/v1/audit?" + query()); render(); };
  function label(code) { const a = data.actions && data.actions[code]; return a ? (currentLang() === "id" ? a[0] : a[1]) : code; }
  function render() {
    const m = h("input", { type: "month", id: "audit-month", value: month, onchange: (e) => { month = e.target.value || wibMonth(); load(); } });
    const sel = h("select", { id: "audit-team", onchange: (e) => { team = e.target.value; load(); } },
      h("option", { value: "" }, t("audit_all_teams")), (me.teams || []).map((x) => h("option", { value: x.id, selected: x.id === team }, x.name)));
    fill(root,
      h("h1", {}, t("audit_title")),
      h("div", { class: "controls" }, h("label", { for: "audit-month" }, t("audit_month"), m), h("label", { for: "audit-team" }, t("audit_team"), sel),
        h("a", { href: "/api/v1/audit?format=csv&" + query(), download: true, id: "audit-csv" }, t("audit_csv"))),
      data.events.length === 0 ? h("p", { class: "muted" }, t("audit_none")) :
        table([t("time"), t("audit_actor"), t("audit_role"), t("audit_address"), t("actions"), t("audit_object"), t("audit_area"), t("audit_team"), t("message"), t("audit_count")],
          data.events.map((e) => [when(e.at), e.actor, e.role ? roleName(e.role) : "–", e.address || "–", label(e.action), e.object || "–", e.area || "–", e.team || "–", e.detail || "", e.count || 1])),
    );
  }
  setView("audit", { relabel: render });
  view().replaceChildren(root);
  await load();
}

// --------------------------------------------------------------- national

// nationalView is a national server's read-only overview: every province
// with when it was last heard from and what it still holds, the incidents
// of all provinces, and the villages that are not up.
async function nationalView() {
  const q = new URLSearchParams(location.search);
  let province = q.get("province") || "";
  let state = q.get("status") || "open";
  let provinces = [], incidents = [], villages = [];
  // The provinces this server's registry has: names, and the map's extent.
  const known = (await api("/api/v1/provinces").catch(() => [])) || [];
  const names = new Map(known.map((p) => [p.code, p.name]));
  const provName = (code) => (names.has(code) ? `${code} ${names.get(code)}` : code);
  const root = h("section", { class: "page national" });
  // One map of every province's villages, coloured by the status each
  // province last sent; drawn once, its data refreshed with the filters.
  const mapEl = h("div", { id: "national-map", style: "height:420px;margin:12px 0;border:1px solid #d0d7de" });
  let map = null;
  const mapData = async (f) => api(`/api/v1/national/map.geojson?${f}`);
  async function drawMap(fc) {
    if (map) { map.getSource("national").setData(fc); return; }
    if (!known.length || typeof maplibregl === "undefined") return;
    // The regency outlines of the provinces this server has loaded.
    const regencies = await api("/api/v1/map/regencies.geojson").catch(() => ({ type: "FeatureCollection", features: [] }));
    const bb = known.reduce((a, p) => [Math.min(a[0], p.bbox[0]), Math.min(a[1], p.bbox[1]), Math.max(a[2], p.bbox[2]), Math.max(a[3], p.bbox[3])], [180, 90, -180, -90]);
    map = new maplibregl.Map({
      container: mapEl, bounds: [[bb[0], bb[1]], [bb[2], bb[3]]], fitBoundsOptions: { padding: 20 },
      attributionControl: false, dragRotate: false, pitchWithRotate: false,
      style: { version: 8, sources: { national: { type: "geojson", data: fc }, regencies: { type: "geojson", data: regencies } }, layers: [
        { id: "background", type: "background", paint: { "background-color": "#dde8ef" } },
        { id: "regencies-fill", type: "fill", source: "regencies", paint: { "fill-color": "#f4f1ea", "fill-opacity": 0.9 } },
        { id: "regencies-line", type: "line", source: "regencies", paint: { "line-color": "#7d8b99", "line-width": 0.8 } },
        { id: "national-villages", type: "circle", source: "national", paint: {
          "circle-radius": ["interpolate", ["linear"], ["zoom"], 4, 3, 10, 6, 14, 9],
          "circle-color": ["match", ["get", "status"], ...Object.entries(STATUS_COLOURS).flat(), STATUS_COLOURS.unknown],
          "circle-stroke-color": "#ffffff", "circle-stroke-width": 1 } }] },
    });
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    map.on("click", "national-villages", (e) => {
      const p = e.features[0].properties;
      new maplibregl.Popup({ maxWidth: "280px" }).setLngLat(e.features[0].geometry.coordinates)
        .setDOMContent(h("div", { class: "popup" }, h("strong", {}, p.name), " ", badge(p.status), h("div", {}, `${t("code")} ${p.code}`),
          h("div", {}, `${t("province")} ${provName(p.province)}`), p.cause ? h("div", {}, reasonText(p.cause)) : null)).addTo(map);
    });
    window.jagadesa.map = map;
    window.jagadesa.nationalRendered = () => map.queryRenderedFeatures({ layers: ["national-villages"] }).length;
  }
  const load = async () => {
    const f = (province ? `province=${encodeURIComponent(province)}&` : "");
    const [p, i, v, fc] = await Promise.all([api("/api/v1/national/provinces"),
      api(`/api/v1/national/incidents?${f}${state ? "status=" + encodeURIComponent(state) : ""}`),
      api(`/api/v1/national/villages?${f}`), mapData(f)]);
    provinces = p.provinces || []; incidents = i.incidents || []; villages = v.villages || [];
    render();
    await drawMap(fc);
  };
  const counts = (m) => statusKeys.filter((k) => m && m[k]).map((k) => h("span", { class: "count" }, badge(k), " ", m[k], " "));
  function render() {
    const notUp = villages.filter((v) => v.status !== "up").slice(0, 500);
    const selProv = h("select", { id: "national-province", onchange: (e) => { province = e.target.value; load(); } },
      h("option", { value: "" }, t("all")), provinces.map((p) => h("option", { value: p.province, selected: p.province === province }, provName(p.province))));
    const selState = h("select", { id: "national-state", onchange: (e) => { state = e.target.value; load(); } },
      ["", "open", "acknowledged", "resolved"].map((s) => h("option", { value: s, selected: s === state }, s ? t("state_" + s) : t("all"))));
    fill(root,
      h("h1", {}, t("national_title")), h("p", { class: "muted" }, t("national_help")),
      mapEl,
      h("h2", {}, t("national_provinces")),
      table([t("province"), t("state"), t("national_heard"), t("national_backlog"), t("national_lag"), t("national_missing"), t("villages"), t("national_open")],
        provinces.map((p) => [provName(p.province),
          h("span", { class: "badge", "data-offline": p.offline ? "true" : "false", style: `background:${p.offline ? STATUS_COLOURS.down : STATUS_COLOURS.up}` }, p.offline ? t("national_offline") : t("national_online")),
          p.heard ? when(p.heard_at) : t("never"), p.backlog, duration(p.lag_s), p.missing + p.dropped, counts(p.villages), p.open_incidents])),
      h("div", { class: "controls" }, h("label", { for: "national-province" }, t("province"), selProv), h("label", { for: "national-state" }, t("status"), selState)),
      h("h2", {}, t("national_incidents")),
      table([t("opened"), t("province"), t("villages"), t("kind"), t("severity"), t("status"), t("csirt")],
        incidents.map((i) => [when(i.opened_at), i.province, i.village + (i.villages && i.villages.length > 1 ? ` +${i.villages.length - 1}` : ""),
          has("kind_" + i.kind) ? t("kind_" + i.kind) : i.kind, has("severity_" + i.severity) ? t("severity_" + i.severity) : i.severity,
          has("state_" + i.state) ? t("state_" + i.state) : i.state, i.team || "–"])),
      h("h2", {}, `${t("national_not_up")} (${notUp.length} / ${villages.length} ${t("national_villages_total").toLowerCase()})`),
      table([t("code"), t("province"), t("status"), t("cause"), t("start")],
        notUp.map((v) => [v.village, v.province, badge(v.status), v.cause ? reasonText(v.cause) : "–", when(v.since)])));
    root.dataset.loaded = "true";
  }
  setView("national", { relabel: render, destroy: () => { if (map) map.remove(); } });
  view().replaceChildren(root);
  await load();
}

// ------------------------------------------------------------------ admin

async function adminView() {
  const root = h("section", { class: "page admin" });
  const msg = h("p", { class: "error", role: "alert", id: "admin-msg" });
  let users = [], probes = [], shown = null;
  const load = async () => {
    users = can("manage_users") ? (await api("/api/v1/users")).users : [];
    probes = can("manage_probes") ? (await api("/api/v1/probes?all=true")).probes : [];
    render();
  };
  const send = async (path, method, body) => {
    msg.textContent = "";
    try {
      const r = await api(path, { method, headers: { "Content-Type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
      return r ?? true;
    } catch (err) { msg.textContent = err.message; return null; }
  };
  function userSection() {
    if (!can("manage_users")) return null;
    const f = { username: h("input", { id: "nu-username", required: true }), role: h("select", { id: "nu-role" },
      ["province-analyst", "regency-analyst", "viewer", "technician", "province-admin"].map((r) => h("option", { value: r }, roleName(r)))),
      regency: h("input", { id: "nu-regency", placeholder: "33.06", size: 6 }), password: h("input", { id: "nu-password", type: "password", autocomplete: "new-password" }) };
    return [
      h("h2", {}, t("users")),
      table([t("username"), t("role"), t("jurisdiction"), t("state"), t("last_login"), t("actions")], users.map((u) => [
        u.username, roleName(u.role), u.regency || u.province, u.disabled ? t("disabled") : t("active"), u.last_login ? when(u.last_login) : t("never"),
        u.disabled || u.username === me.username ? null : [
          h("button", { type: "button", onclick: async () => { if (confirm(t("confirm_disable")) && await send(`/api/v1/users/${encodeURIComponent(u.username)}/disable`, "POST")) load(); } }, t("disable")),
          h("button", { type: "button", onclick: async () => { const pw = prompt(t("new_password")); if (pw && await send(`/api/v1/users/${encodeURIComponent(u.username)}/password`, "PUT", { password: pw })) msg.textContent = t("done"); } }, t("reset_password")),
        ],
      ])),
      h("form", { class: "inline", id: "add-user", onsubmit: async (e) => {
        e.preventDefault();
        const body = { username: f.username.value.trim(), role: f.role.value, password: f.password.value };
        if (f.regency.value.trim()) body.regency = f.regency.value.trim(); else body.province = me.area && me.area.length === 2 ? me.area : (me.area || "").slice(0, 2);
        if (await send("/api/v1/users", "POST", body)) load();
      } }, h("strong", {}, t("add_user")), " ", h("label", {}, t("username"), f.username), h("label", {}, t("role"), f.role),
        h("label", { title: t("regency_code") }, t("regency"), f.regency), h("label", {}, t("password"), f.password), h("button", { type: "submit" }, t("add"))),
    ];
  }
  function probeSection() {
    if (!can("manage_probes")) return null;
    const village = h("input", { id: "code-village", placeholder: "33.06.08.2005", size: 14 });
    const replace = h("input", { id: "code-replace", type: "checkbox" });
    return [
      h("h2", {}, t("probes")),
      table([t("probe"), t("villages"), t("enrolled"), t("enrolled_by"), t("state"), t("actions")], probes.map((p) => [
        p.id, placeName(p.village), when(p.created_at), p.enrolled_by || "–",
        p.revoked_at ? (p.replaced_by ? `${t("replaced_by")} ${p.replaced_by}` : t("disabled")) : (p.rotate_requested ? t("rotate_pending") : t("active")),
        p.revoked_at ? null : [
          h("button", { type: "button", onclick: async () => { if (await send(`/api/v1/probes/${p.id}/rotate`, "POST")) load(); } }, t("rotate")),
          h("button", { type: "button", onclick: async () => { if (confirm(t("confirm_revoke")) && await send(`/api/v1/probes/${p.id}`, "DELETE")) load(); } }, t("revoke")),
        ],
      ])),
      h("form", { class: "inline", id: "make-code", onsubmit: async (e) => {
        e.preventDefault();
        const r = await send("/api/v1/enrollment-codes", "POST", { village: village.value.trim(), replace: replace.checked });
        if (r) { shown = r; render(); }
      } }, h("strong", {}, t("enroll_code")), " ", h("label", {}, t("village_code"), village), h("label", {}, replace, t("replace_probe")), h("button", { type: "submit" }, t("make_code"))),
      shown ? h("div", { class: "code-once", id: "code-once" }, h("p", {}, t("code_once")), h("code", { id: "enroll-code" }, shown.code), h("pre", {}, shown.command),
        h("p", {}, `${t("expires")}: ${when(shown.expires_at)}`)) : null,
    ];
  }
  function governanceSection() {
    if (!can("manage_users")) return null;
    const file = h("input", { type: "file", id: "gov-file", accept: ".csv,text/csv" });
    return [
      h("h2", {}, t("gov_import")),
      h("p", { class: "muted" }, t("gov_import_help")),
      h("form", { class: "inline", id: "gov-import", onsubmit: async (e) => {
        e.preventDefault();
        if (!file.files.length) return;
        const text = await file.files[0].text();
        msg.textContent = "";
        try {
          const r = await api("/api/v1/governance/import", { method: "POST", headers: { "Content-Type": "text/csv" }, body: text });
          msg.textContent = `${t("done")} ${r.imported} ${t("villages")}`;
        } catch (err) { msg.textContent = err.message; }
      } }, file, h("button", { type: "submit" }, t("gov_import_submit"))),
    ];
  }
  function render() {
    fill(root, h("h1", {}, t("admin_title")), msg, userSection(), probeSection(), governanceSection(),
      me.role === "admin" ? null : h("p", {}, h("button", { type: "button", id: "signout-everywhere", onclick: async () => { if (await send("/api/v1/sessions", "DELETE")) { me = null; navigate("/login"); } } }, t("signout_everywhere"))));
  }
  setView("admin", { relabel: render });
  view().replaceChildren(root);
  await load();
  const codes = probes.map((p) => p.village);
  if (codes.length) { await ensurePlaces(codes); render(); }
}

setLang(currentLang());
route();

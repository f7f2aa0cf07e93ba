// The meter face: polls the control API (GET face/live each second, face/waveform every two)
// and draws what it gets; the buttons POST the API's injections. Plain JS, no libraries.
"use strict";

const face = {
  base: "",            // URL prefix of the meter shown ("" alone, "/meters/ID" in a fleet)
  token: null,         // bearer token from the URL fragment (#token=...)
  history: [],         // [{t, v: [..], i: [..], p}] for the trend chart
  fleet: null,         // the fleet's rows when GET /meters answers
  timers: [],
};
const HISTORY = 180;   // points kept (three minutes at one per second)
const COLOURS = ["#b45309", "#1d4ed8", "#15803d"];  // L1, L2, L3
const $ = (id) => document.getElementById(id);

function setText(id, text) { $(id).textContent = text === null || text === undefined || text === "" ? "—" : String(text); }

async function api(method, path, body, fleetWide) {
  const headers = {};
  if (face.token) headers["Authorization"] = "Bearer " + face.token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch((fleetWide ? "" : face.base) + path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const kind = response.headers.get("Content-Type") || "";
  const answer = kind.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new Error((answer && answer.error) || response.status + " " + response.statusText);
  return answer;
}

// --- the LCD, indicators, events --------------------------------------------------------------

function showDisplay(display) {
  if (!display) { setText("lcd-text", null); $("lcd-item").textContent = ""; setText("lcd-message", null); setText("lcd-list", null); return; }
  setText("lcd-text", display.text);
  $("lcd-item").textContent = display.item === undefined || display.item === null ? "" : String(display.item);
  setText("lcd-message", display.message);
  // Device.display_state: list (the display list object's OBIS), items (OBIS each), index.
  const items = Array.isArray(display.items) ? display.items.map(String) : [];
  const shown = items.map((x, k) => (k === display.index ? "[" + x + "]" : x)).join(", ");
  setText("lcd-list", [display.list, shown].filter(Boolean).join(": "));
}

function showRelays(relays) {
  const lamp = $("relay");
  const entries = Object.entries(relays || {});
  if (!entries.length) { lamp.textContent = "—"; lamp.className = "lamp"; return; }
  const [obis, relay] = entries[0];
  lamp.textContent = relay.output_state ? "connected" : "disconnected";
  lamp.className = "lamp " + (relay.output_state ? "on" : "off");
  lamp.title = obis + " control state " + relay.control_state + ", mode " + relay.control_mode;
}

function showAlarms(alarms) {
  const lamp = $("alarm");
  const set = Object.values(alarms || {}).flatMap(a => a.set);
  const known = Object.keys(alarms || {}).length > 0;
  lamp.textContent = !known ? "—" : set.length ? "ALARM" : "none";
  lamp.className = "lamp" + (set.length ? " alarm" : "");
  $("alarm-bits").textContent = set.join(", ");
}

function showEvents(events) {
  const rows = [];
  for (const [log, entries] of Object.entries(events || {}))
    for (const e of entries) rows.push({time: e.time || "", log, code: e.code, name: e.name});
  rows.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
  const body = $("events").tBodies[0];
  body.replaceChildren(...rows.map(r => {
    const tr = document.createElement("tr");
    for (const text of [r.time.replace("T", " "), r.log.replace("_", " "), r.name ? r.code + " " + r.name : String(r.code)]) {
      const td = document.createElement("td"); td.textContent = text; tr.append(td);
    }
    return tr;
  }));
}

async function refreshLive() {
  const live = await api("GET", "/face/live");
  setText("meter-name", live.meter && live.meter.ldn);
  showDisplay(live.display);
  showRelays(live.relays);
  showAlarms(live.alarms);
  setText("tariff", live.active_tariff);
  setText("meter-time", live.clock && live.clock.meter_local);
  showEvents(live.events);
  const inst = live.instant || {phases: []};
  face.history.push({t: Date.parse(live.clock.true_time), v: inst.phases.map(p => p.v), i: inst.phases.map(p => p.i), p: inst.p});
  if (face.history.length > HISTORY) face.history.shift();
  drawTrend(inst);
  $("status").textContent = "live";  // the live region speaks only when this changes
  $("updated").textContent = "· " + new Date().toLocaleTimeString();
  $("status").className = "";
}

// --- charts ------------------------------------------------------------------------------------

function axes(ctx, x, y, w, h, lo, hi, label) {
  ctx.strokeStyle = "#c8c8c0"; ctx.strokeRect(x, y, w, h);
  ctx.fillStyle = "#444"; ctx.font = "11px sans-serif";
  ctx.fillText(label, x + 4, y + 12);
  ctx.fillText(fmt(hi), x + w + 4, y + 10); ctx.fillText(fmt(lo), x + w + 4, y + h);
}

function fmt(v) { return Math.abs(v) >= 1000 ? (v / 1000).toFixed(2) + "k" : Math.abs(v) >= 10 ? v.toFixed(0) : v.toFixed(2); }

function range(values) {
  const finite = values.filter(Number.isFinite);
  let lo = Math.min(0, ...finite), hi = Math.max(...finite, 1e-9);
  if (hi - lo < 1e-6) hi = lo + 1;
  return [lo, hi + (hi - lo) * 0.05];
}

function plot(ctx, series, x, y, w, h, lo, hi, n, colour) {
  ctx.strokeStyle = colour; ctx.lineWidth = 1.5; ctx.beginPath();
  let started = false;
  series.forEach((v, k) => {
    if (!Number.isFinite(v)) { started = false; return; }
    const px = x + w - (series.length - 1 - k) * w / Math.max(n - 1, 1), py = y + h - (v - lo) / (hi - lo) * h;
    if (started) ctx.lineTo(px, py); else { ctx.moveTo(px, py); started = true; }
  });
  ctx.stroke();
}

function drawTrend(inst) {
  const canvas = $("trend"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const w = canvas.width - 60, h = (canvas.height - 20) / 3, n = face.history.length;
  const phases = (inst.phases || []).length;
  const panels = [["V", r => r.v, true], ["A", r => r.i, true], ["W (total)", r => [r.p], false]];
  panels.forEach(([label, pick, perPhase], row) => {
    const y = 5 + row * (h + 5);
    const lines = perPhase ? Array.from({length: phases}, (_, k) => face.history.map(r => pick(r)[k])) : [face.history.map(r => pick(r)[0])];
    const [lo, hi] = range(lines.flat());
    axes(ctx, 5, y, w, h, lo, hi, label);
    lines.forEach((line, k) => plot(ctx, line, 5, y, w, h, lo, hi, HISTORY, perPhase ? COLOURS[k % 3] : "#6d28d9"));
  });
  $("trend-now").textContent = (inst.phases || []).map(p => `${p.name}: ${fmtOr(p.v, "V")} ${fmtOr(p.i, "A")} ${fmtOr(p.p, "W")}`).join(" · ") + (inst.p === null || inst.p === undefined ? "" : ` · total ${fmtOr(inst.p, "W")}`);
}

function fmtOr(v, unit) { return Number.isFinite(v) ? v.toFixed(1) + " " + unit : "— " + unit; }

async function refreshWave() {
  const wave = await api("GET", "/face/waveform");
  const canvas = $("wave"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const w = canvas.width - 60, h = (canvas.height - 15) / 2;
  for (const [row, key, unit] of [[0, "v", "V"], [1, "i", "A"]]) {
    const y = 5 + row * (h + 5);
    const peak = Math.max(1e-6, ...wave.phases.flatMap(p => p[key].map(Math.abs)));
    axes(ctx, 5, y, w, h, -peak, peak, unit);
    ctx.strokeStyle = "#e5e5e0"; ctx.beginPath(); ctx.moveTo(5, y + h / 2); ctx.lineTo(5 + w, y + h / 2); ctx.stroke();
    wave.phases.forEach((p, k) => plot(ctx, p[key], 5, y, w, h, -peak, peak, p[key].length, COLOURS[k % 3]));
  }
  const n = wave.phases.length ? wave.phases[0].v.length : 0;
  // The peaks drawn, for whoever reads the page without looking at the canvas (and tests).
  canvas.dataset.vpeak = Math.max(0, ...wave.phases.flatMap(p => p.v.map(Math.abs))).toFixed(1);
  canvas.dataset.ipeak = Math.max(0, ...wave.phases.flatMap(p => p.i.map(Math.abs))).toFixed(2);
  $("wave-legend").textContent = `${n} samples at ${wave.fs} Hz, f = ${Number(wave.f).toFixed(2)} Hz · ` + wave.phases.map((p, k) => `${p.name} ${["orange", "blue", "green"][k % 3]}`).join(", ");
}

// --- injections --------------------------------------------------------------------------------

function formValue(name) { return document.querySelector(`#inject [name="${name}"]`).value.trim(); }
function number(name) { const v = Number(formValue(name)); if (!Number.isFinite(v)) throw new Error(name + ": a number"); return v; }

const ACTIONS = {
  "outage": () => ["/inject/outage", {duration: formValue("duration")}],
  "sag": () => ["/inject/sag", {duration: formValue("duration"), scale: number("sag")}],
  "swell": () => ["/inject/swell", {duration: formValue("duration"), scale: number("swell")}],
  "load": () => ["/inject/load", {current: number("current"), pf: number("pf")}],
  "cover-open": () => ["/inject/tamper", {kind: formValue("cover"), active: true}],
  "cover-close": () => ["/inject/tamper", {kind: formValue("cover"), active: false}],
  "magnet-on": () => ["/inject/tamper", {kind: "magnetic_field", active: true}],
  "magnet-off": () => ["/inject/tamper", {kind: "magnetic_field", active: false}],
  "button": () => ["/inject/button", {}],
  // A fleet meter's time is the fleet's: its button moves every meter (POST /time/jump at the top).
  "jump": () => ["/time/jump", {by: "1h"}, face.base !== ""],
};

async function inject(event) {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const out = $("inject-result");
  try {
    const [path, body, fleetWide] = ACTIONS[button.dataset.action]();
    button.disabled = true;
    const answer = await api("POST", path, body, fleetWide);
    out.textContent = button.textContent + ": " + JSON.stringify(answer);
    out.className = "";
    await refreshLive();
  } catch (err) {
    out.textContent = button.textContent + " failed: " + err.message;
    out.className = "error";
  } finally {
    button.disabled = false;
  }
}

// --- one meter, or a fleet ---------------------------------------------------------------------

function stop() { face.timers.forEach(clearInterval); face.timers = []; }

function guard(work) {
  return () => work().catch(err => { $("status").textContent = "not reachable: " + err.message; $("status").className = "error"; });
}

function showMeter(base) {
  stop();
  face.base = base; face.history = [];
  $("face").hidden = false;
  $("fleet").hidden = true;
  $("back").hidden = face.fleet === null;
  const jump = $("time-jump");
  jump.textContent = base ? "Fleet time +1 h (every meter)" : "Time +1 h";
  jump.title = base ? "time passes for every meter of the fleet (POST /time/jump)" : "time passes for this meter";
  guard(refreshLive)(); guard(refreshWave)();
  face.timers.push(setInterval(guard(refreshLive), 1000), setInterval(guard(refreshWave), 2000));
}

function showFleet() {
  stop();
  $("face").hidden = true; $("fleet").hidden = false;
  $("meter-name").textContent = "fleet"; $("status").textContent = ""; $("status").className = "";
  renderFleet();
}

function renderFleet() {
  const query = $("fleet-search").value.trim().toLowerCase();
  const rows = face.fleet.filter(m => !query || JSON.stringify(m).toLowerCase().includes(query));
  $("fleet-count").textContent = `${rows.length} of ${face.fleet.length} meters`;
  $("fleet-table").tBodies[0].replaceChildren(...rows.slice(0, 500).map(m => {
    const tr = document.createElement("tr");
    const rest = Object.entries(m).filter(([k]) => !["id", "serial", "base"].includes(k)).map(([k, v]) => `${k} ${v}`).join(", ");
    for (const text of [m.id, m.serial, rest]) { const td = document.createElement("td"); td.textContent = text === undefined ? "—" : String(text); tr.append(td); }
    const td = document.createElement("td"), a = document.createElement("a");
    a.href = "#meter=" + encodeURIComponent(m.id); a.textContent = "open";
    a.setAttribute("aria-label", "open meter " + m.id);
    td.append(a); tr.append(td);
    return tr;
  }));
}

function route() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (face.fleet === null) return;
  const id = params.get("meter");
  const meter = id === null ? null : face.fleet.find(m => String(m.id) === id);
  if (meter) showMeter(meter.base || "/meters/" + encodeURIComponent(meter.id)); else showFleet();
}

async function start() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("token")) sessionStorage.setItem("acesm-token", params.get("token"));
  face.token = sessionStorage.getItem("acesm-token");
  $("inject").addEventListener("click", inject);
  $("fleet-search").addEventListener("input", renderFleet);
  $("back-link").addEventListener("click", (e) => { e.preventDefault(); location.hash = ""; });
  try {
    let listed = await api("GET", "/meters");
    face.fleet = Array.isArray(listed) ? listed : listed.meters;
    if (!Array.isArray(face.fleet)) face.fleet = null;
    // A fleet answers a page at a time: follow "next" (at most 100 pages).
    for (let pages = 0; face.fleet && listed.next && pages < 100; pages++) {
      listed = await api("GET", listed.next);
      face.fleet = face.fleet.concat(listed.meters || []);
    }
  } catch (err) {
    face.fleet = null;  // one meter: no list endpoint
  }
  if (face.fleet === null) { showMeter(""); return; }
  window.addEventListener("hashchange", route);
  route();
}

document.addEventListener("DOMContentLoaded", start);

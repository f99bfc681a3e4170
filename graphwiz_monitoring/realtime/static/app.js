// Live status page: one WebSocket to the realtime server, a snapshot on connect, then events.
// Every value from the server is written with textContent, never parsed as HTML: data is untrusted.
"use strict";

const MAX_RECOVERY_ROWS = 20;
const MAX_EQUITY_POINTS = 720;
const EQUITY_SAMPLE_SECONDS = 5;  // as the server: one point per 5 s
const SILENCE_SECONDS = 3600;
const RECONNECT_MAX_MS = 10000;

const state = {
  metrics: {}, alerts: new Map(), health: {}, breakers: {}, trading: null, recovery: [], equity: [],
  unavailable: {}, silenced: new Set(),
};

// ------------------------------------------------------------------ token and connection

function takeToken() {
  // The token may arrive once in the URL (?token=...); keep it for this tab and drop it from the URL bar.
  const params = new URLSearchParams(window.location.search);
  const fromUrl = params.get("token");
  if (fromUrl) {
    sessionStorage.setItem("graphwiz-token", fromUrl);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : ""));
  }
  return sessionStorage.getItem("graphwiz-token");
}

const token = takeToken();
let retryMs = 500;

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  const query = token ? "?token=" + encodeURIComponent(token) : "";
  const ws = new WebSocket(scheme + "//" + window.location.host + "/ws" + query);
  setBadge("conn-state", "connecting…", "unknown");
  ws.onopen = () => { retryMs = 500; setBadge("conn-state", "syncing…", "warn"); };  // "live" once the snapshot is in
  ws.onmessage = (msg) => {
    let message;
    try { message = JSON.parse(msg.data); } catch (e) { return; }
    handle(message);
  };
  ws.onclose = () => {
    setBadge("conn-state", "disconnected — retrying", "bad");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, RECONNECT_MAX_MS);
  };
}

// ------------------------------------------------------------------ messages

function handle(message) {
  const data = message && typeof message.data === "object" && message.data !== null ? message.data : {};
  switch (message.type) {
    case "snapshot": applySnapshot(data); break;
    case "metrics": applyMetrics(data); break;
    case "alert": applyAlert(data); break;
    case "health": applyHealth(data); break;
    case "breaker": applyBreaker(data); break;
    case "recovery": applyRecovery(data); break;
    case "trade": break;  // the server follows a trade with fresh metrics; here it only counts as an update
    case "error": note("server: " + String(data.error || "error")); return;
    default: return;
  }
  document.getElementById("last-update").textContent = "updated " + fmtTime(message.timestamp);
}

function applySnapshot(data) {
  state.metrics = data.metrics || {};
  state.alerts = new Map();
  for (const alert of asArray(data.alerts)) upsertAlert(alert);
  state.health = byName(data.health && data.health.checks ? data.health.checks : data.health);
  state.breakers = byName(data.breakers && data.breakers.breakers ? data.breakers.breakers : data.breakers);
  for (const [name, check] of Object.entries(state.health)) {  // checks whose breaker never moved
    if (!state.breakers[name] && check && typeof check.breaker === "object" && check.breaker) state.breakers[name] = check.breaker;
  }
  state.trading = data.trading;
  state.recovery = asArray(data.recovery).slice(0, MAX_RECOVERY_ROWS);
  state.equity = asArray(data.equity).filter((p) => Array.isArray(p) && isNum(p[1]));
  state.unavailable = data.unavailable || {};
  renderAll();
  setBadge("conn-state", "live", "ok");
}

function applyMetrics(data) {
  for (const [section, value] of Object.entries(data)) {
    if (value && typeof value === "object" && !Array.isArray(value)) state.metrics[section] = value;
  }
  const pnl = (state.metrics.trading || {}).pnl_usd;
  if (isNum(pnl)) {
    const now = Date.now() / 1000, last = state.equity[state.equity.length - 1];
    if (last && now - last[0] < EQUITY_SAMPLE_SECONDS) last[1] = pnl;  // bursts move the last point
    else state.equity.push([now, pnl]);
    if (state.equity.length > MAX_EQUITY_POINTS) state.equity.shift();
  }
  renderMetrics();
}

function applyAlert(data) {
  const alert = data.alert && typeof data.alert === "object" ? data.alert : data;
  if (alert.rule_name === "manual") {  // one-shot alerts (create_manual_alert) are never active: a notice
    note(String(alert.severity || "info").toUpperCase() + ": " + String(alert.title || ""));
    return;
  }
  const resolved = alert.state === "resolved" || data.event === "resolved" || data.kind === "resolved";
  // "stale": the episode ended because its trader stopped reporting (docs/ALERTS.md), not resolved
  const stale = alert.state === "stale" || data.event === "stale";
  if (stale) note("STALE: " + String(alert.title || "") + " (its data stopped coming)");
  if (resolved || stale) state.alerts.delete(String(alert.alert_id));
  else upsertAlert(alert);
  renderAlerts();
}

function upsertAlert(alert) {
  if (alert && alert.alert_id !== undefined && alert.state !== "resolved" && alert.state !== "stale") state.alerts.set(String(alert.alert_id), alert);
}

function applyHealth(data) {
  if (data.checks && typeof data.checks === "object") { state.health = byName(data.checks); renderHealth(); return; }
  const name = data.name !== undefined ? String(data.name) : data.check !== undefined ? String(data.check) : null;
  if (name === null) return;
  state.health[name] = Object.assign({}, state.health[name] || {}, data, { name });
  if (typeof data.breaker === "string") {  // a health event names its breaker's state
    state.breakers[name] = Object.assign({}, state.breakers[name] || {}, { name, state: data.breaker });
  }
  renderHealth();
}

function applyBreaker(data) {
  if (data.name !== undefined) state.breakers[String(data.name)] = data;
  renderHealth();
}

function applyRecovery(data) {
  state.recovery.unshift(data);
  state.recovery.length = Math.min(state.recovery.length, MAX_RECOVERY_ROWS);
  if (data.action === "pause_trading" && data.outcome === "succeeded") {
    state.trading = Object.assign({}, state.trading || {}, { paused: true, reason: "recovery: " + String(data.check || "") });
  }
  renderRecovery();
  renderTrading();
}

// ------------------------------------------------------------------ rendering

function renderAll() {
  renderMetrics(); renderAlerts(); renderHealth(); renderRecovery(); renderTrading(); renderUnavailable();
}

function renderMetrics() {
  const m = state.metrics || {};
  const t = m.trading || {}, p = m.portfolio || {}, r = m.risk || {};
  setMoney("pnl", t.pnl_usd);
  text("pnl-daily", "today " + fmtUsd(t.pnl_daily_usd));
  text("drawdown", fmtPct(t.current_drawdown));
  text("max-drawdown", "max " + fmtPct(t.max_drawdown));
  text("win-rate", fmtPct(t.win_rate));
  text("trades", (isNum(t.total_trades) ? t.total_trades : "–") + " trades");
  text("portfolio", fmtUsd(p.value_usd));
  text("leverage", "leverage " + (isNum(r.leverage) ? r.leverage.toFixed(2) + "×" : "–"));
  renderSparkline();
  renderExchanges(m.exchanges || {});
}

function renderSparkline() {
  const points = state.equity;
  const line = document.getElementById("sparkline-line");
  if (points.length === 0) { line.setAttribute("points", ""); return; }
  const t0 = points[0][0], t1 = points[points.length - 1][0];
  const values = points.map((q) => q[1]);
  const lo = Math.min(...values), hi = Math.max(...values);
  const coords = points.map((q, i) => {
    const x = t1 > t0 ? ((q[0] - t0) / (t1 - t0)) * 300 : (points.length > 1 ? (i / (points.length - 1)) * 300 : 0);
    const y = hi > lo ? 58 - ((q[1] - lo) / (hi - lo)) * 56 : 30;
    return x.toFixed(1) + "," + y.toFixed(1);
  });
  if (coords.length === 1) coords.push("300," + coords[0].split(",")[1]);
  line.setAttribute("points", coords.join(" "));
  text("sparkline-note", fmtUsd(lo) + " … " + fmtUsd(hi) + " over " + points.length + " points");
}

function renderExchanges(exchanges) {
  const rows = Object.keys(exchanges).sort().map((name) => {
    const e = exchanges[name] || {};
    const conn = e.connected === true ? ["connected", "status-healthy"]
      : e.connected === false ? ["disconnected", "status-critical"] : ["unknown", "status-unknown"];
    return row([name, conn, fmtMs(e.p50_latency), fmtMs(e.p95_latency), fmtMs(e.p99_latency),
      fmtPct(e.error_rate), isNum(e.rate_limit_remaining) ? String(e.rate_limit_remaining) : "–"]);
  });
  replaceRows("exchanges", rows, 7, "no exchange has reported yet");
}

function renderAlerts() {
  const list = document.getElementById("alerts");
  const alerts = Array.from(state.alerts.values()).sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
  const items = alerts.map((a) => {
    const li = el("li", "alert sev-" + cls(a.severity));
    li.dataset.alertId = String(a.alert_id);
    if (state.silenced.has(String(a.alert_id))) li.classList.add("silenced");
    li.append(el("span", "sev", String(a.severity || "?")), el("span", "title", String(a.title || a.rule_name || "alert")));
    const button = el("button", "silence", state.silenced.has(String(a.alert_id)) ? "silenced" : "silence 1 h");
    button.type = "button";
    button.disabled = state.silenced.has(String(a.alert_id));
    button.addEventListener("click", () => silence(String(a.alert_id), button));
    li.append(button, el("span", "message", String(a.message || "")));
    const labels = Object.entries(a.labels || {}).map(([k, v]) => k + "=" + v).join(" ");
    li.append(el("span", "meta", "rule " + String(a.rule_name || "?") + " · since " + fmtTime(a.created_at) + (labels ? " · " + labels : "")));
    return li;
  });
  list.replaceChildren(...items);
  text("alert-count", String(items.length));
  document.getElementById("alerts-empty").hidden = items.length > 0;
}

function renderHealth() {
  const names = new Set([...Object.keys(state.health), ...Object.keys(state.breakers)]);
  const rows = Array.from(names).sort().map((name) => {
    const h = state.health[name] || {}, b = state.breakers[name];
    const status = String(h.status || (h.message === "not run yet" ? "not run" : "unknown"));
    const breaker = b ? String(b.state || "?") + (isNum(b.failures) && b.failures ? " (" + b.failures + " failures)" : "") : "–";
    return row([name, [label(status), "status-" + cls(status)], [String(h.message || ""), "text"], fmtTime(h.timestamp),
      [breaker, "status-" + cls(b ? b.state : "unknown")]]);
  });
  replaceRows("health", rows, 5, "no health check has run yet");
}

function renderRecovery() {
  const rows = state.recovery.map((a) => {
    const outcome = String(a.outcome || a.status || "?");
    return row([fmtTime(a.started_at || a.timestamp), String(a.action || "?"), String(a.check || ""),
      [label(outcome), "status-" + cls(outcome)], [String(a.reason || a.message || ""), "text"]]);
  });
  replaceRows("recovery", rows, 5, "no recovery action yet");
}

function renderTrading() {
  const t = state.trading;
  const paused = t === true || (t && t.paused === true);
  if (t === null || t === undefined) setBadge("trading-state", "trading: unknown", "unknown");
  else if (paused) setBadge("trading-state", "TRADING PAUSED" + (t.reason ? " — " + String(t.reason) : ""), "bad");
  else setBadge("trading-state", "trading active", "ok");
}

function renderUnavailable() {
  const items = Object.entries(state.unavailable || {}).map(([k, v]) => el("li", "", k + ": " + String(v)));
  document.getElementById("unavailable").replaceChildren(...items);
}

// ------------------------------------------------------------------ silence

async function silence(alertId, button) {
  button.disabled = true;
  const query = "alert_id=" + encodeURIComponent(alertId) + "&duration_seconds=" + SILENCE_SECONDS;
  const headers = token ? { Authorization: "Bearer " + token } : {};
  try {
    const res = await fetch("/api/silences?" + query, { method: "POST", headers });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(String(body.error || res.status));
    state.silenced.add(alertId);
    note("silenced alert " + alertId + " for 1 h");
  } catch (e) {
    button.disabled = false;
    note("silence failed: " + e.message);
  }
  renderAlerts();
}

// ------------------------------------------------------------------ helpers

function el(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content !== undefined) node.textContent = content;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = Array.isArray(cell) ? el("td", cell[1], cell[0]) : el("td", "", cell);
    tr.append(td);
  }
  return tr;
}

function replaceRows(id, rows, columns, emptyText) {
  if (rows.length === 0) {
    const td = el("td", "empty", emptyText);
    td.colSpan = columns;
    const tr = document.createElement("tr");
    tr.append(td);
    rows = [tr];
  }
  document.getElementById(id).replaceChildren(...rows);
}

function text(id, value) { document.getElementById(id).textContent = value; }

function setMoney(id, value) {
  const node = document.getElementById(id);
  node.textContent = fmtUsd(value);
  node.classList.toggle("pos", isNum(value) && value > 0);
  node.classList.toggle("neg", isNum(value) && value < 0);
}

function setBadge(id, label, kind) {
  const node = document.getElementById(id);
  node.textContent = label;
  node.className = "badge " + kind;
}

function note(message) { text("notice", message); }
function isNum(v) { return typeof v === "number" && Number.isFinite(v); }
function asArray(v) { return Array.isArray(v) ? v : []; }
function label(v) { return String(v).replace(/_/g, " "); }
function cls(v) { return String(v || "unknown").toLowerCase().replace(/[^a-z0-9_]/g, "_"); }

function byName(value) {
  if (Array.isArray(value)) {
    const out = {};
    for (const item of value) if (item && item.name !== undefined) out[String(item.name)] = item;
    return out;
  }
  return value && typeof value === "object" ? Object.assign({}, value) : {};
}

function fmtUsd(v) {
  if (!isNum(v)) return "–";
  const sign = v < 0 ? "-" : "";
  return sign + "$" + Math.abs(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}
function fmtPct(v) { return isNum(v) ? (v * 100).toFixed(2) + "%" : "–"; }
function fmtMs(v) { return isNum(v) ? (v * 1000).toFixed(0) + " ms" : "–"; }
function fmtTime(v) {
  if (v === null || v === undefined || v === "") return "–";
  const d = isNum(v) ? new Date(v * 1000) : new Date(String(v));
  return Number.isNaN(d.getTime()) ? "–" : d.toLocaleTimeString("en-GB", { hour12: false });
}

connect();

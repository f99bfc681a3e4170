// Live status page: one WebSocket to the realtime server, a snapshot on connect, then events.
// Every value from the server is written with textContent, never parsed as HTML: data is untrusted.
"use strict";

const MAX_RECOVERY_ROWS = 20;
const MAX_TRADE_ROWS = 20;
const MAX_EQUITY_POINTS = 720;
const EQUITY_SAMPLE_SECONDS = 5;  // as the server: one point per 5 s
const SILENCE_SECONDS = 3600;
const RECONNECT_MAX_MS = 10000;
// How each built-in rule's value reads (the value at the breach and now); other rules: a plain number.
const RULE_UNITS = {
  large_loss: "fraction", high_cpu: "percent", high_memory: "percent", disk_space: "percent",
  high_latency: "seconds", risk_limit_breach: "times", rate_limit: "count", agent_failure: "count",
  beat_down: "seconds", notify_dead_letters: "seconds", redis_memory_high: "percent",
};

const state = {
  metrics: {}, alerts: new Map(), health: {}, breakers: {}, trading: null, recovery: [], equity: [],
  trades: [], alertValues: {}, unavailable: {}, silenced: new Set(), busy: new Set(),
};
let chart = null;  // the uPlot equity chart, made on the first data

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
    case "trade": break;  // a batch summary: the server follows it with fresh metrics and the recent trades
    case "error": note("server: " + String(data.error || "error")); return;
    default: return;
  }
  document.getElementById("last-update").textContent = "updated " + fmtTime(message.timestamp);
}

function applySnapshot(data) {
  state.metrics = data.metrics || {};
  state.alerts = new Map();
  for (const alert of asArray(data.alerts)) upsertAlert(alert);
  state.alertValues = objectOr(data.alert_values);
  state.health = byName(data.health && data.health.checks ? data.health.checks : data.health);
  state.breakers = byName(data.breakers && data.breakers.breakers ? data.breakers.breakers : data.breakers);
  for (const [name, check] of Object.entries(state.health)) {  // checks whose breaker never moved
    if (!state.breakers[name] && check && typeof check.breaker === "object" && check.breaker) state.breakers[name] = check.breaker;
  }
  state.trading = data.trading;
  state.recovery = asArray(data.recovery).slice(0, MAX_RECOVERY_ROWS);
  state.trades = asArray(data.trades).slice(0, MAX_TRADE_ROWS);
  state.equity = asArray(data.equity).filter((p) => Array.isArray(p) && isNum(p[0]) && isNum(p[1]));
  state.unavailable = data.unavailable || {};
  renderAll();
  setBadge("conn-state", "live", "ok");
}

function applyMetrics(data) {
  // Besides metrics sections, the server's pushes carry each alert's value now and the recent trades.
  if (data.alert_values && typeof data.alert_values === "object") { state.alertValues = data.alert_values; renderAlerts(); }
  if (Array.isArray(data.recent_trades)) { state.trades = data.recent_trades.slice(0, MAX_TRADE_ROWS); renderTrades(); }
  for (const [section, value] of Object.entries(data)) {
    if (section === "alert_values" || section === "recent_trades") continue;
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
  renderMetrics(); renderAlerts(); renderTrades(); renderHealth(); renderRecovery(); renderTrading(); renderUnavailable();
}

function renderMetrics() {
  const m = state.metrics || {};
  const t = m.trading || {}, p = m.portfolio || {}, r = m.risk || {};
  setMoney("pnl", t.pnl_usd);
  text("pnl-daily", "today " + fmtUsd(t.pnl_daily_usd));
  text("drawdown", fmtPct(t.current_drawdown));
  text("max-drawdown", "max " + fmtPct(t.max_drawdown));
  text("win-rate", fmtPct(t.win_rate));
  text("trades", (isNum(t.total_trades) ? t.total_trades.toLocaleString("en-US") : "–") + " trades");
  text("portfolio", fmtUsd(p.value_usd));
  const positions = isNum(r.position_count) ? " · " + r.position_count + " positions" : "";
  text("leverage", !isNum(p.value_usd) && !isNum(r.leverage) ? "no portfolio reported"
    : "leverage " + (isNum(r.leverage) ? r.leverage.toFixed(2) + "×" : "–") + positions);
  renderChart();
  renderExchanges(m.exchanges || {});
}

// ------------------------------------------------------------------ equity chart (uPlot, vendored)

function renderChart() {
  const points = state.equity;
  const box = document.getElementById("equity-chart");
  if (points.length === 0) { text("equity-note", "waiting for data"); return; }
  const xs = points.map((q) => q[0]), ys = points.map((q) => q[1]);
  if (typeof uPlot !== "function") { text("equity-note", "chart library did not load"); return; }
  if (chart === null) {
    const axis = { stroke: "#8b97a6", grid: { stroke: "#2a3340", width: 1 }, ticks: { stroke: "#2a3340", width: 1 },
                   font: "12px system-ui, sans-serif" };
    chart = new uPlot({
      width: chartWidth(box), height: chartHeight(),
      cursor: { drag: { x: false, y: false } },
      // The legend shows the value under the pointer: a phone has no pointer, only the note below.
      legend: { show: window.matchMedia("(hover: hover)").matches && window.innerWidth >= 600 },
      scales: { x: { time: true } },
      series: [
        { value: (u, v) => (v === null ? "–" : fmtDateTime(v)) },
        { label: "P&L", stroke: "#4da3ff", width: 2, fill: "rgba(77, 163, 255, 0.12)",
          value: (u, v) => (v === null ? "–" : fmtUsd(v)) },
      ],
      axes: [
        Object.assign({}, axis, { space: 45, values: (u, vals) => vals.map(fmtAxisTime) }),
        Object.assign({}, axis, { size: 64, values: (u, vals) => vals.map(fmtUsdShort) }),
      ],
    }, [xs, ys], box);
    window.equityChart = chart;  // for the browser test and for debugging from the console
    new ResizeObserver(() => chart.setSize({ width: chartWidth(box), height: chartHeight() })).observe(box);
  } else {
    chart.setData([xs, ys]);
  }
  const lo = Math.min(...ys), hi = Math.max(...ys);
  text("equity-note", fmtTime(xs[0]) + " – " + fmtTime(xs[xs.length - 1]) + " · low " + fmtUsd(lo) + " · high " + fmtUsd(hi));
}

function chartWidth(box) { return Math.max(200, Math.floor(box.getBoundingClientRect().width)); }
function chartHeight() { return window.innerWidth < 600 ? 190 : 240; }

// ------------------------------------------------------------------ tables

function renderTrades() {
  const rows = state.trades.map((t) => {
    const pnl = isNum(t.pnl) ? [fmtUsd(t.pnl), "num " + (t.pnl > 0 ? "pos" : t.pnl < 0 ? "neg" : "")] : ["–", "num"];
    return row([fmtTime(t.timestamp), String(t.symbol || "?"), [String(t.side || "?"), "side-" + cls(t.side)],
      [fmtNumber(t.price), "num"], [fmtNumber(t.quantity), "num opt"], pnl, [String(t.exchange || "–"), "opt"]]);
  });
  replaceRows("recent-trades", rows, 7, "no trade yet");
}

function renderExchanges(exchanges) {
  const rows = Object.keys(exchanges).sort().map((name) => {
    const e = exchanges[name] || {};
    const conn = e.connected === true ? ["connected", "status-healthy"]
      : e.connected === false ? ["disconnected", "status-critical"] : ["unknown", "status-unknown"];
    return row([name, conn, [fmtMs(e.p50_latency), "num opt"], [fmtMs(e.p95_latency), "num opt"], [fmtMs(e.p99_latency), "num"],
      [fmtPct(e.error_rate), "num"], [isNum(e.rate_limit_remaining) ? String(e.rate_limit_remaining) : "–", "num"]]);
  });
  replaceRows("exchanges", rows, 7, "no exchange has reported yet");
}

function renderHealth() {
  const names = new Set([...Object.keys(state.health), ...Object.keys(state.breakers)]);
  const rows = Array.from(names).sort().map((name) => {
    const h = state.health[name] || {}, b = state.breakers[name];
    const status = String(h.status || (h.message === "not run yet" ? "not run" : "unknown"));
    const breaker = b ? String(b.state || "?") + (isNum(b.failures) && b.failures ? " (" + b.failures + " failures)" : "") : "–";
    const tr = row(["", [label(status), "status-" + cls(status)], [String(h.message || ""), "text"],
      [fmtTime(h.timestamp), "lbl"], [breaker, "lbl status-" + cls(b ? b.state : "unknown")]]);
    tr.cells[3].dataset.label = "checked";  // shown before the value where the table is stacked (phones)
    tr.cells[4].dataset.label = "breaker";
    // The check's name links to its explanation (thresholds and the settings that change them).
    const link = el("a", "", label(name));
    link.href = "/health-checks.html#" + encodeURIComponent(name);
    tr.firstChild.append(link);
    return tr;
  });
  replaceRows("health", rows, 5, "no health check has run yet");
}

function renderRecovery() {
  const rows = state.recovery.map((a) => {
    const outcome = String(a.outcome || a.status || "?");
    return row([fmtTime(a.started_at || a.timestamp), label(a.action || "?"), label(a.check || ""),
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

// ------------------------------------------------------------------ alert cards

function renderAlerts() {
  const list = document.getElementById("alerts");
  const alerts = Array.from(state.alerts.values()).sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
  const items = alerts.map(alertCard);
  list.replaceChildren(...items);
  text("alert-count", String(items.length));
  document.getElementById("alerts-empty").hidden = items.length > 0;
}

function alertCard(a) {
  const id = String(a.alert_id);
  // "acknowledged" says whether an ack is in force (one that expired or a severity rise ended is not)
  const acked = a.acknowledged === true;
  const silenced = state.silenced.has(id);
  const li = el("li", "alert sev-" + cls(a.severity));
  li.dataset.alertId = id;
  li.classList.toggle("acknowledged", acked);
  li.classList.toggle("silenced", silenced);

  const head = el("div", "head");
  head.append(el("span", "sev", String(a.severity || "?")), el("span", "since", "since " + fmtTime(a.created_at) + ago(a.created_at)));
  li.append(head, el("div", "title", String(a.title || a.rule_name || "alert")));
  if (a.message) li.append(el("div", "message", String(a.message)));

  // The value that opened the episode, the value now and the rule's limit, each labelled.
  const meta = a.metadata && typeof a.metadata === "object" ? a.metadata : {};
  const rule = String(a.rule_name || "");
  const cells = [["at breach", meta.value, "at-breach"], ["now", state.alertValues[id], "now"], ["limit", meta.threshold, "limit"]]
    .filter((c) => isNum(c[1]));
  if (cells.length) {
    const values = el("dl", "values");
    // "now" in red while still past the limit (on the side the breach was), in green once back within it
    const side = isNum(meta.value) && isNum(meta.threshold) ? Math.sign(meta.value - meta.threshold) : 0;
    const now = state.alertValues[id];
    const past = side !== 0 && isNum(now) ? Math.sign(now - meta.threshold) === side : null;
    for (const [name, value, key] of cells) {
      const box = el("div", "value-" + key + (key === "now" && past !== null ? (past ? " past" : " within") : ""));
      box.append(el("dt", "", name), el("dd", "", fmtRuleValue(rule, value)));
      values.append(box);
    }
    li.append(values);
  }
  const labels = Object.entries(a.labels || {}).map(([k, v]) => k + " " + v).join(" · ");
  li.append(el("div", "meta", "rule " + rule + (labels ? " · " + labels : "")));
  // A maintenance window holds its notifications (docs/ALERTS.md "Maintenance windows"): shown, not sent.
  const maintenance = meta.maintenance && typeof meta.maintenance === "object" ? meta.maintenance : null;
  if (maintenance) {
    li.append(el("div", "maintenance", "in maintenance (" + String(maintenance.window) + ") until "
      + fmtTime(maintenance.until) + ": not notified"));
  }
  if (acked) {
    const until = isNum(a.ack_expires_at) ? " until " + fmtTime(a.ack_expires_at) : "";
    li.append(el("div", "ack", "✓ acknowledged by " + String(a.acknowledged_by) + " at " + fmtTime(a.acknowledged_at) + until
      + (a.ack_comment ? " — " + String(a.ack_comment) : "")));
  }

  const actions = el("div", "actions");
  // An ack pressed by mistake (a phone in a pocket) is taken back where it was given.
  const ack = acked
    ? button("unacknowledge", "Unacknowledge", state.busy.has("ack:" + id))
    : button("acknowledge primary", "Acknowledge", state.busy.has("ack:" + id));
  ack.addEventListener("click", () => answer(id, ack, !acked));
  const mute = button("silence", silenced ? "silenced" : "Silence 1 h", silenced || state.busy.has("silence:" + id));
  mute.addEventListener("click", () => silence(id, mute));
  actions.append(ack, mute);
  li.append(actions);
  return li;
}

function button(className, label, disabled) {
  const b = el("button", className, label);
  b.type = "button";
  b.disabled = disabled;
  return b;
}

// ------------------------------------------------------------------ answering alerts (POST to this server)

async function post(path, params) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const res = await fetch(path + "?" + new URLSearchParams(params).toString(), { method: "POST", headers });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(String(body.error || "HTTP " + res.status));
  return body;
}

async function answer(alertId, node, acknowledge) {
  node.disabled = true;
  state.busy.add("ack:" + alertId);
  const verb = acknowledge ? "acknowledge" : "unacknowledge";
  try {
    const alert = await post("/api/alerts/" + (acknowledge ? "ack" : "unack"), { alert_id: alertId });
    upsertAlert(alert);
    note(verb + "d " + String(alert.title || alertId));
  } catch (e) {
    note(verb + " failed: " + e.message);
  }
  state.busy.delete("ack:" + alertId);
  renderAlerts();
}

async function silence(alertId, node) {
  node.disabled = true;
  state.busy.add("silence:" + alertId);
  try {
    await post("/api/silences", { alert_id: alertId, duration_seconds: SILENCE_SECONDS });
    state.silenced.add(alertId);
    note("silenced alert " + alertId + " for 1 h");
  } catch (e) {
    note("silence failed: " + e.message);
  }
  state.busy.delete("silence:" + alertId);
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

function objectOr(v) { return v && typeof v === "object" && !Array.isArray(v) ? v : {}; }

function fmtRuleValue(rule, v) {
  switch (RULE_UNITS[rule]) {
    case "fraction": return (v * 100).toFixed(2) + "%";
    case "percent": return v.toFixed(1) + "%";
    case "seconds": return v < 1 ? (v * 1000).toFixed(0) + " ms" : v.toFixed(2) + " s";
    case "times": return v.toFixed(2) + "×";
    case "count": return Math.round(v).toLocaleString("en-US");
    default: return fmtNumber(v);
  }
}
function fmtNumber(v) {
  if (!isNum(v)) return "–";
  return Math.abs(v) >= 1000 ? v.toLocaleString("en-US", { maximumFractionDigits: 2 }) : String(Number(v.toPrecision(6)));
}
function fmtUsdShort(v) {
  const a = Math.abs(v), sign = v < 0 ? "-" : "";
  if (a >= 1e6) return sign + "$" + (a / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
  if (a >= 1e4) return sign + "$" + (a / 1e3).toFixed(0) + "k";
  if (a >= 1e3) return sign + "$" + (a / 1e3).toFixed(1) + "k";
  return sign + "$" + a.toFixed(a >= 100 || a === 0 ? 0 : 2);
}
function fmtAxisTime(v) {  // 24-hour clock on the time axis; the day too when the range spans days
  const d = new Date(v * 1000), hm = d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false });
  const xs = chart ? chart.data[0] : state.equity.map((q) => q[0]);
  const long = xs.length > 1 && xs[xs.length - 1] - xs[0] > 86400;
  return long ? d.toLocaleDateString("en-GB", { day: "2-digit", month: "short" }) + " " + hm : hm;
}
function fmtDateTime(v) {
  const d = new Date(v * 1000);
  return d.toLocaleDateString("en-GB", { day: "2-digit", month: "short" }) + " " + d.toLocaleTimeString("en-GB", { hour12: false });
}
function ago(v) {
  if (!isNum(v)) return "";
  const s = Math.max(0, Date.now() / 1000 - v);
  if (s < 90) return " (" + Math.round(s) + " s ago)";
  if (s < 5400) return " (" + Math.round(s / 60) + " min ago)";
  return " (" + (s / 3600).toFixed(1) + " h ago)";
}

connect();

// The prescientd dashboard: reads /api/v1, follows /api/v1/stream, falls back to polling.
// Plain JavaScript, no build step. Outside text (market questions) is only ever set as
// textContent, never parsed as HTML. Every figure carries data-field / data-col and a raw
// data-value, so tests can compare the page with the API.
"use strict";

(function () {
  const API = "/api/v1";
  const PANELS = ["status", "health", "positions", "trades", "signals", "equity", "performance", "config"];
  const ON_EVENT = {
    prices: ["status", "health", "positions"],
    paper_trade: ["status", "positions", "trades", "equity", "signals"],
    position_settled: ["status", "positions", "trades", "equity", "performance"],
    job_finished: ["status", "health", "signals", "equity", "performance"],
    config_reloaded: ["status", "config"],
    resync: PANELS,
  };
  const POLL_MS = 10000, AGES_MS = 30000, DEBOUNCE_MS = 250, RECONNECT_MS = 5000, MAX_EVENTS = 30;
  const state = {status: null, health: null};
  const $ = (sel) => document.querySelector(sel);
  let charts = null;

  // ---- formatting -------------------------------------------------------------------------------
  const isNum = (v) => typeof v === "number" && isFinite(v);
  const group = (v, digits) => v.toLocaleString("en-US", {minimumFractionDigits: digits, maximumFractionDigits: digits});
  function usd(v, signed) {
    if (!isNum(v)) return "–";
    const sign = v < 0 ? "−" : (signed && v > 0 ? "+" : "");
    return sign + "$" + group(Math.abs(v), 2);
  }
  function pct(v, signed) {
    if (!isNum(v)) return "–";
    const sign = v < 0 ? "−" : (signed && v > 0 ? "+" : "");
    return sign + group(Math.abs(v) * 100, 2) + " %";
  }
  const price = (v) => (isNum(v) ? v.toFixed(3) : "–");
  const shares = (v) => (isNum(v) ? group(v, 2) : "–");
  const int = (v) => (isNum(v) ? group(v, 0) : "–");
  function age(s) {
    if (!isNum(s)) return "–";
    if (s < 120) return Math.round(s) + " s";
    if (s < 7200) return Math.round(s / 60) + " min";
    if (s < 172800) return Math.round(s / 3600) + " h";
    return Math.round(s / 86400) + " d";
  }
  function time(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }
  const tone = (v) => (isNum(v) && v > 0 ? "gain" : isNum(v) && v < 0 ? "loss" : "");
  const FORMATS = {usd, pct, int, age, time, price, text: (v) => (v == null ? "–" : String(v))};

  // ---- fields and tables ------------------------------------------------------------------------
  function renderFields(doc) {
    for (const el of document.querySelectorAll("[data-field]")) {
      const key = el.dataset.field;
      if (!(key in doc)) continue;
      const value = doc[key];
      const fmt = FORMATS[el.dataset.format || (key.endsWith("_at") ? "time" : "text")];
      el.dataset.value = value == null ? "" : String(value);
      el.textContent = fmt(value, el.dataset.sign === "1");
      if (el.dataset.sign === "1") el.className = tone(value);
    }
    const badge = $("#health");
    badge.className = "badge " + (doc.health_status || "");
  }

  // columns: [{col, fmt(value,row), num, cls(value,row), text}]
  function fillTable(id, rows, columns, rowId, emptyText) {
    const body = $(`#${id} tbody`);
    const trs = [];
    for (const row of rows) {
      const tr = document.createElement("tr");
      tr.dataset.id = rowId(row);
      for (const c of columns) {
        const value = row[c.col];
        const td = document.createElement("td");
        td.dataset.col = c.col;
        td.dataset.value = value == null ? "" : (Array.isArray(value) ? value.join(",") : String(value));
        td.textContent = c.fmt ? c.fmt(value, row) : (value == null ? "–" : String(value));
        const cls = [c.num ? "num" : "", c.text ? "text" : "", c.cls ? c.cls(value, row) : ""].filter(Boolean);
        if (cls.length) td.className = cls.join(" ");
        tr.appendChild(td);
      }
      trs.push(tr);
    }
    if (!trs.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = document.createElement("td");
      td.colSpan = columns.length;
      td.textContent = emptyText;
      tr.appendChild(td);
      trs.push(tr);
    }
    body.replaceChildren(...trs);
    $(`#${id}`).dataset.rows = String(rows.length);
  }

  const RENDER = {
    positions(page) {
      const rows = [...page.items].sort((a, b) => (a.unrealized_pnl_usd ?? 0) - (b.unrealized_pnl_usd ?? 0));
      fillTable("positions", rows, [
        {col: "question", text: true},
        {col: "outcome"},
        {col: "shares", num: true, fmt: shares},
        {col: "avg_entry_price", num: true, fmt: price},
        {col: "mark_price", num: true, fmt: (v, r) => price(v) + (r.stale ? " (stale)" : ""),
         cls: (v, r) => (r.stale ? "stale" : "")},
        {col: "value_usd", num: true, fmt: (v) => usd(v)},
        {col: "unrealized_pnl_usd", num: true, fmt: (v) => usd(v, true), cls: tone},
        {col: "opened_at", fmt: time},
      ], (r) => r.token_id || r.market_id, "no open positions");
    },
    trades(page) {
      fillTable("trades", page.items, [
        {col: "time", fmt: time},
        {col: "kind"},
        {col: "question", text: true},
        {col: "side", fmt: (v, r) => v || (r.kind === "settlement" ? "settle" : "–")},
        {col: "shares", num: true, fmt: shares},
        {col: "avg_price", num: true, fmt: (v, r) => price(v ?? r.payout_per_share)},
        {col: "cash_delta_usd", num: true, fmt: (v) => usd(v, true), cls: tone},
        {col: "fees_usd", num: true, fmt: (v) => usd(v)},
        {col: "realized_pnl_usd", num: true, fmt: (v) => usd(v, true), cls: tone},
      ], (r) => `${r.kind}-${r.trade_id ?? r.settlement_id ?? r.seq}`, "no trades yet");
    },
    signals(page) {
      const rows = [...page.items].sort((a, b) => (a.status === "actionable" ? 0 : 1) - (b.status === "actionable" ? 0 : 1));
      fillTable("signals", rows, [
        {col: "question", text: true},
        {col: "status", cls: (v) => (v === "actionable" ? "gain" : "")},
        {col: "skip_reason"},
        {col: "yes_price", num: true, fmt: price},
        {col: "threshold", num: true, fmt: price},
        {col: "action"},
        {col: "reason", text: true},
      ], (r) => r.market_id, "no signals yet");
      const meta = page.evaluated_at
        ? `evaluated ${time(page.evaluated_at)} · config v${page.config_version} · ${int(page.markets_considered)} markets, ` +
          `${int(page.actionable)} actionable, ${int(page.skipped)} skipped`
        : "no evaluation yet";
      $("#signals-meta").textContent = meta;
    },
    config(page) {
      fillTable("config-versions", page.items, [
        {col: "version", num: true},
        {col: "loaded_at", fmt: time},
        {col: "source"},
        {col: "changed_keys", text: true, fmt: (v) => (v && v.length ? v.join(", ") : "–")},
      ], (r) => String(r.version), "no config recorded");
    },
    equity(page) { charts && charts.equity.update([...page.items].reverse()); },
    performance(page) { charts && charts.pnl.update([...page.items].reverse()); },
  };

  function renderStatus() {
    const status = state.status || {}, health = state.health || {};
    renderFields({...health, ...status, health_status: health.status || "unknown"});
    const jobs = Object.entries(status.jobs || {}).map(([job, run]) => ({job, ...(run || {outcome: "never"})}));
    fillTable("jobs", jobs, [
      {col: "job"},
      {col: "outcome", cls: (v) => (v === "failed" ? "failed" : "")},
      {col: "finished_at", fmt: time},
      {col: "age_s", fmt: age},
      {col: "next_run_at", fmt: time},
      {col: "error", cls: () => "wrap", fmt: (v) => v || ""},
    ], (r) => r.job, "no jobs");
    const problems = [...(health.problems || [])];
    $("#problem-list").replaceChildren(...problems.map((p) => Object.assign(document.createElement("li"), {textContent: p})));
    $("#problems").hidden = problems.length === 0;
  }

  // ---- loading ----------------------------------------------------------------------------------
  async function get(path) {
    const response = await fetch(API + path, {headers: {Accept: "application/json"}, cache: "no-store"});
    if (!response.ok && !(path === "/health" && response.status === 503)) {
      throw new Error(`${path}: HTTP ${response.status}`);
    }
    return response.json();
  }
  const LOAD = {
    status: async () => { state.status = await get("/status"); renderStatus(); },
    health: async () => { state.health = await get("/health"); renderStatus(); },
    positions: async () => RENDER.positions(await get("/positions?limit=1000")),
    trades: async () => RENDER.trades(await get("/trades?limit=25")),
    signals: async () => RENDER.signals(await get("/signals/current?limit=200")),
    equity: async () => RENDER.equity(await get("/equity?order=desc&limit=5000")),
    performance: async () => RENDER.performance(await get("/performance?order=desc&limit=120")),
    config: async () => RENDER.config(await get("/config/versions?limit=20")),
  };

  const pending = new Set();
  let timer = null, failures = 0;
  function want(names) {
    names.forEach((n) => pending.add(n));
    if (timer === null) timer = setTimeout(flush, DEBOUNCE_MS);
  }
  async function flush() {
    const names = [...pending];
    pending.clear();
    const results = await Promise.allSettled(names.map((n) => LOAD[n]()));
    timer = null;
    const failed = results.filter((r) => r.status === "rejected");
    failures = failed.length ? failures + 1 : 0;
    if (failed.length && failures >= 2) {
      $("#health").textContent = "unreachable";
      $("#health").className = "badge down";
    }
    if (!failed.length && names.length === PANELS.length) document.body.dataset.ready = "1";
    document.body.dataset.renders = String(Number(document.body.dataset.renders) + 1);
    if (pending.size && timer === null) timer = setTimeout(flush, DEBOUNCE_MS);
  }

  // ---- live events, with polling as the fallback ------------------------------------------------
  let pollTimer = null;
  function setMode(mode) {
    document.body.dataset.mode = mode;
    const el = $("#mode");
    el.dataset.mode = mode;
    el.textContent = mode === "live" ? "live" : mode === "polling" ? "polling every 10 s" : mode;
  }
  function startPolling() { if (pollTimer === null) pollTimer = setInterval(() => want(PANELS), POLL_MS); }
  function stopPolling() { clearInterval(pollTimer); pollTimer = null; }

  function summary(kind, data) {
    if (typeof data.summary === "string") return data.summary;
    if (kind === "paper_trade") return `${data.side || "trade"} ${data.outcome || ""} ${usd(data.notional_usd)} · ${data.question || data.market_id || ""}`;
    if (kind === "position_settled") return `${usd(data.realized_pnl_usd, true)} · ${data.question || data.market_id || ""}`;
    if (kind === "job_finished") return `${data.job || "job"} ${data.outcome || ""}` + (isNum(data.duration_s) ? ` in ${data.duration_s.toFixed(1)} s` : "");
    if (kind === "config_reloaded") return `config v${data.version ?? "?"} ${data.outcome || ""}`;
    if (kind === "prices") return `${int(data.tokens)} prices` + (data.stale ? `, ${int(data.stale)} stale` : "");
    return Object.entries(data).slice(0, 3).map(([k, v]) => `${k}=${v}`).join(" ");
  }
  function logEvent(kind, data, id) {
    const li = document.createElement("li");
    li.dataset.kind = kind;
    li.dataset.id = id || "";
    const k = Object.assign(document.createElement("span"), {className: "kind", textContent: kind});
    li.append(`${time(new Date().toISOString()).slice(11)} `, k, " " + summary(kind, data));
    const list = $("#events");
    list.prepend(li);
    while (list.children.length > MAX_EVENTS) list.lastChild.remove();
  }

  function connect() {
    if (!("EventSource" in window)) { setMode("polling"); startPolling(); return; }
    const source = new EventSource(API + "/stream");
    source.onopen = () => { setMode("live"); stopPolling(); want(PANELS); };
    source.onerror = () => {
      setMode("polling");
      startPolling();
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, RECONNECT_MS);
    };
    for (const kind of Object.keys(ON_EVENT)) {
      source.addEventListener(kind, (event) => {
        let data = {};
        try { data = JSON.parse(event.data); } catch (e) { /* keep {} */ }
        logEvent(kind, data, event.lastEventId);
        want(ON_EVENT[kind]);
      });
    }
  }

  function start() {
    charts = {
      equity: window.PrescientCharts.equity($("#equity-chart")),
      pnl: window.PrescientCharts.dailyPnl($("#pnl-chart")),
    };
    want(PANELS);
    connect();
    setInterval(() => want(["status", "health"]), AGES_MS);
  }
  document.addEventListener("DOMContentLoaded", start);
})();

// The prescientd dashboard: reads /api/v1, follows /api/v1/stream, falls back to polling.
// Plain JavaScript, no build step. Outside text (market questions) is only ever set as
// textContent, never parsed as HTML. Every figure carries data-field / data-col and a raw
// data-value, so tests can compare the page with the API.
//
// Several strategies: the selector (#strategy-select, also #strategy=NAME in the address) shows
// all of them or one. "all" lists every strategy's positions, trades and signals (each row names
// its strategy) and draws one equity line per strategy; one strategy filters the tables and
// switches the curve, the daily P&L and the tiles to its account. The tiles and daily P&L show
// the default account while "all" is selected.
"use strict";

(function () {
  const API = "/api/v1";
  const DEFAULT = "default";
  const PANELS = ["status", "health", "strategies", "positions", "trades", "signals", "equity", "performance", "config",
                  "report"];
  const POLLED = PANELS.filter((p) => p !== "report");  // the report is read again each evening (and hourly)
  const ON_EVENT = {
    prices: ["status", "health", "strategies", "positions"],
    paper_trade: ["status", "strategies", "positions", "trades", "equity", "signals"],
    position_settled: ["status", "strategies", "positions", "trades", "equity", "performance"],
    job_finished: ["status", "health", "strategies", "signals", "equity", "performance"],
    config_reloaded: ["status", "strategies", "config"],
    resync: PANELS,
  };
  // panels that show one account: an event of another strategy leaves them as they are
  const PER_ACCOUNT = new Set(["status", "positions", "trades", "equity", "signals", "performance", "report"]);
  const DEFAULT_ONLY = new Set(["status", "performance"]);  // what "all" shows of the default account
  const TILES = ["equity_usd", "cash_usd", "total_return", "total_pnl_usd", "daily_pnl_usd", "realized_pnl_usd",
                 "unrealized_pnl_usd", "win_rate", "fees_usd", "max_drawdown", "open_positions", "trade_count"];
  const POLL_MS = 10000, AGES_MS = 30000, REPORT_MS = 3600000, DEBOUNCE_MS = 250, RECONNECT_MS = 5000, MAX_EVENTS = 30;
  const state = {status: null, health: null, strategies: [], performance: [], selected: "", report: null};
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
      if (row.strategy) tr.dataset.strategy = row.strategy;
      for (const c of columns) {
        const value = row[c.col];
        const td = document.createElement("td");
        td.dataset.col = c.col;
        td.dataset.value = value == null ? "" : (Array.isArray(value) ? value.join(",") : String(value));
        td.textContent = c.fmt ? c.fmt(value, row) : (value == null ? "–" : String(value));
        const cls = [c.num ? "num" : "", c.text ? "text" : "", c.hideable ? "col-strategy" : "",
                     c.cls ? c.cls(value, row) : ""].filter(Boolean);
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

  const STRATEGY_COL = {col: "strategy", hideable: true};  // shown under "all" only
  const RENDER = {
    strategies(page) {
      const before = state.strategies.map((r) => r.strategy).join(",");
      state.strategies = page.items;
      if (page.items.map((r) => r.strategy).join(",") !== before) want(["equity"]);  // its colours
      fillTable("strategies", page.items, [
        {col: "strategy"},
        {col: "status", cls: (v) => (v === "retired" ? "retired" : "")},
        {col: "equity_usd", num: true, fmt: (v) => usd(v)},
        {col: "cumulative_return", num: true, fmt: (v) => pct(v, true), cls: tone},
        {col: "total_pnl_usd", num: true, fmt: (v) => usd(v, true), cls: tone},
        {col: "max_drawdown", num: true, fmt: (v) => pct(v)},
        {col: "win_rate", num: true, fmt: (v) => pct(v)},
        {col: "trade_count", num: true, fmt: int},
        {col: "fees_usd", num: true, fmt: (v) => usd(v)},
        {col: "capital_locked_usd", num: true, fmt: (v) => usd(v)},
        {col: "open_positions", num: true, fmt: int},
      ], (r) => r.strategy, "no accounts yet");
      const names = page.items.map((r) => r.strategy);
      for (const tr of document.querySelectorAll("#strategies tbody tr[data-id]")) {
        tr.classList.toggle("selected", tr.dataset.id === state.selected);
        const swatch = Object.assign(document.createElement("span"), {className: "swatch"});
        swatch.style.background = window.PrescientCharts.color(names.indexOf(tr.dataset.id));
        tr.firstChild.prepend(swatch);
      }
      fillSelector(page.items);
      renderStatus();
    },
    positions(page) {
      const rows = [...page.items].sort((a, b) => (a.unrealized_pnl_usd ?? 0) - (b.unrealized_pnl_usd ?? 0));
      fillTable("positions", rows, [
        STRATEGY_COL,
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
        STRATEGY_COL,
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
        STRATEGY_COL,
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
    equity(page) { charts && charts.equity.update([...page.items].reverse(), colors()); },
    report(doc) {
      state.report = doc;
      renderCalibration();
      const res = doc.resolutions || {};
      $("#report-meta").textContent = `${time(doc.generated_at)} · ${int(res.total)} resolutions in the ledger ` +
        `(${int(res.settlement)} at settlement, ${int(res.evening)} by the evening)`;
      fillTable("capital", doc.capital || [], [
        {col: "strategy"},
        {col: "pnl_usd", num: true, fmt: (v) => usd(v, true), cls: tone},
        {col: "return_on_balance", num: true, fmt: (v) => pct(v, true), cls: tone},
        {col: "return_per_dollar_day", num: true, fmt: (v) => perDay(v), cls: tone},
        {col: "annualized_return", num: true, fmt: (v) => pct(v, true), cls: tone},
        {col: "dollar_days", num: true, fmt: int},
        {col: "average_locked_usd", num: true, fmt: (v) => usd(v)},
        {col: "capital_locked_usd", num: true, fmt: (v) => usd(v)},
      ], (r) => r.strategy, "no account yet");
      fillTable("report-events", doc.events || [], [
        STRATEGY_COL,
        {col: "title", text: true, fmt: (v, r) => v || r.event_id},
        {col: "worst_outcome", text: true},
        {col: "worst_loss_usd", num: true, fmt: (v) => usd(v), cls: (v) => (isNum(v) && v > 0 ? "loss" : "")},
        {col: "worst_loss_vs_value_usd", num: true, fmt: (v) => usd(v)},
        {col: "open_positions", num: true, fmt: int},
        {col: "neg_risk", fmt: (v) => (v ? "yes" : "")},
      ], (r) => `${r.strategy}-${r.event_id}`, "no open position");
      fillTable("report-versions", doc.versions || [], [
        STRATEGY_COL,
        {col: "config_version", num: true, fmt: (v) => (v == null ? "–" : String(v))},
        {col: "loaded_at", fmt: time},
        {col: "changed_keys", text: true, fmt: (v) => (v && v.length ? v.join(", ") : "–")},
        {col: "entries", num: true, fmt: int},
        {col: "cost_usd", num: true, fmt: (v) => usd(v)},
        {col: "pnl_usd", num: true, fmt: (v) => usd(v, true), cls: tone},
        {col: "return_on_cost", num: true, fmt: (v) => pct(v, true), cls: tone},
      ], (r) => `${r.strategy}-${r.config_version}`, "no entry yet");
      const depth = doc.depth || {};
      $("#depth-meta").textContent = `${int(depth.fill_count)} fills with a recorded book, ` +
        `${int(depth.fills_without_book)} without one` + (isNum(depth.depth_used_median)
        ? ` · median ${pct(depth.depth_used_median)} · p90 ${pct(depth.depth_used_p90)} · max ${pct(depth.depth_used_max)}` : "");
      const bars = depth.histogram || [];
      const top = Math.max(1, ...bars.map((b) => b.fill_count || 0));
      fillTable("depth", bars, [
        {col: "depth_used_low", fmt: (v, r) => `${pct(v)} – ${r.depth_used_high == null ? "more" : pct(r.depth_used_high)}`},
        {col: "fill_count", num: true, fmt: int},
        {col: "bar", fmt: () => ""},
      ], (r) => String(r.depth_used_low), "no fill yet");
      document.querySelectorAll("#depth tbody td[data-col='bar']").forEach((td, i) => {
        const bar = Object.assign(document.createElement("span"), {className: "bar"});
        bar.style.width = `${Math.round(((bars[i] || {}).fill_count || 0) / top * 160)}px`;
        td.replaceChildren(bar);
      });
    },
    performance(page) {
      state.performance = [...page.items].reverse();
      charts && charts.pnl.update(state.performance);
      renderStatus();
    },
  };

  function perDay(v) {
    if (!isNum(v)) return "–";
    return (v < 0 ? "−" : v > 0 ? "+" : "") + group(Math.abs(v) * 100, 4) + " %";
  }

  // The calibration chart and table of the observation kind picked (each evening, first sighting).
  function renderCalibration() {
    const cal = (state.report || {}).calibration || {};
    const kind = $("#calibration-kind").value;
    const buckets = (cal.buckets || []).filter((b) => b.kind === kind);
    charts && charts.calibration.update(buckets);
    const outside = (b) => isNum(b.implied_probability) && (b.implied_probability < b.wilson_low || b.implied_probability > b.wilson_high);
    fillTable("calibration", buckets, [
      {col: "bucket_low", fmt: (v, r) => `${price(v)}–${price(r.bucket_high)}`},
      {col: "implied_probability", num: true, fmt: price, cls: (v, r) => (outside(r) ? "flag" : "")},
      {col: "realized_frequency", num: true, fmt: price},
      {col: "wilson_low", num: true, fmt: (v, r) => `${price(v)}–${price(r.wilson_high)}`},
      {col: "observation_count", num: true, fmt: int},
      {col: "market_count", num: true, fmt: int},
    ], (r) => `${r.kind}-${r.bucket_low}`, "no resolved tracked market yet");
    const brier = (cal.brier || []).find((b) => b.kind === kind && b.scope === "all");
    $("#calibration-meta").textContent = `${int(cal.resolved_markets)} resolved tracked markets, ` +
      `${int(cal.split_markets)} 50-50 left out` +
      (brier ? ` · Brier score ${brier.brier_score.toFixed(4)} over ${int(brier.observation_count)} observations (0 is perfect, 0.25 is always saying 0.5)` : "");
  }

  function colors() {
    return Object.fromEntries(state.strategies.map((r, i) => [r.strategy, window.PrescientCharts.color(i)]));
  }

  // The selector's options: "all", then every account (retired ones marked).
  let selectorShape = "";
  function fillSelector(rows) {
    const shape = JSON.stringify([state.selected, rows.map((r) => [r.strategy, r.status])]);
    if (shape === selectorShape) return;  // unchanged: leave an open drop-down alone
    selectorShape = shape;
    const select = $("#strategy-select");
    const options = [Object.assign(document.createElement("option"), {value: "", textContent: "all strategies"})];
    for (const r of rows) {
      const label = r.status === "retired" ? `${r.strategy} (retired)` : r.strategy;
      options.push(Object.assign(document.createElement("option"), {value: r.strategy, textContent: label}));
    }
    if (state.selected && !rows.some((r) => r.strategy === state.selected)) {
      options.push(Object.assign(document.createElement("option"), {value: state.selected, textContent: state.selected}));
    }
    select.replaceChildren(...options);
    select.value = state.selected;
  }

  // The tiles of the account shown: the status document for "default" (and "all"), a variant's
  // row of /strategies otherwise, its today's P&L from its evening snapshots (as status does).
  function accountTiles() {
    if (!state.selected || state.selected === DEFAULT) return {};
    const row = state.strategies.find((r) => r.strategy === state.selected);
    if (!row) return Object.fromEntries(TILES.map((k) => [k, null]));
    return {...Object.fromEntries(TILES.map((k) => [k, row[k] ?? null])),
            total_return: row.cumulative_return, daily_pnl_usd: dailyPnl(row)};
  }
  function dailyPnl(row) {
    const status = state.status || {};
    if (!status.timezone || !isNum(row.equity_usd)) return null;
    const today = localDate(status.generated_at ? new Date(status.generated_at) : new Date(), status.timezone);
    const before = state.performance.filter((r) => r.strategy === row.strategy && r.date < today);
    const base = before.length ? before[before.length - 1].equity_usd : row.starting_balance_usd;
    return isNum(base) ? Math.round((row.equity_usd - base) * 1e6) / 1e6 : null;
  }
  function localDate(moment, zone) {
    try {
      return new Intl.DateTimeFormat("en-CA", {timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit"}).format(moment);
    } catch (e) {
      return moment.toISOString().slice(0, 10);
    }
  }

  function renderStatus() {
    const status = state.status || {}, health = state.health || {};
    renderFields({...health, ...status, ...accountTiles(), health_status: health.status || "unknown"});
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
    if (response.status === 404 && state.selected && path.includes("strategy=")) {
      select("");  // the strategy is gone (or never was): show them all
      throw new Error(`${path}: no such strategy`);
    }
    if (!response.ok && !(path === "/health" && response.status === 503)) {
      throw new Error(`${path}: HTTP ${response.status}`);
    }
    return response.json();
  }
  // path with the selected strategy (or, for one-account panels under "all", the default one)
  function scoped(path, allAs) {
    const strategy = state.selected || allAs;
    return strategy ? `${path}&strategy=${encodeURIComponent(strategy)}` : path;
  }
  // a read for the selection of its time: dropped if the selection changed meanwhile
  function current(render) {
    const selected = state.selected;
    return (doc) => { if (selected === state.selected) render(doc); };
  }
  const LOAD = {
    status: async () => { state.status = await get("/status"); renderStatus(); },
    health: async () => { state.health = await get("/health"); renderStatus(); },
    strategies: async () => RENDER.strategies(await get("/strategies?limit=1000")),
    positions: async () => current(RENDER.positions)(await get(scoped("/positions?limit=1000"))),
    trades: async () => current(RENDER.trades)(await get(scoped("/trades?limit=25"))),
    signals: async () => current(RENDER.signals)(await get(scoped("/signals/current?limit=1000"))),
    equity: async () => current(RENDER.equity)(await get(scoped("/equity?order=desc&limit=5000"))),
    performance: async () => current(RENDER.performance)(await get(scoped("/performance?order=desc&limit=120", DEFAULT))),
    config: async () => RENDER.config(await get("/config/versions?limit=20")),
    report: async () => current(RENDER.report)(
      await get(state.selected ? `/report?strategy=${encodeURIComponent(state.selected)}` : "/report")),
  };

  // ---- the strategy selector --------------------------------------------------------------------
  function select(name) {
    if (name === state.selected) return;
    state.selected = name;
    document.body.dataset.strategy = name || "all";
    $("#strategy-select").value = name;
    const shown = name || DEFAULT;
    $("#tiles-scope").textContent = shown;
    $("#pnl-scope").textContent = shown;
    $("#equity-scope").textContent = name ? name : "every strategy";
    for (const tr of document.querySelectorAll("#strategies tbody tr[data-id]")) {
      tr.classList.toggle("selected", tr.dataset.id === name);
    }
    history.replaceState(null, "", name ? `#strategy=${encodeURIComponent(name)}` : location.pathname + location.search);
    renderStatus();
    want([...PER_ACCOUNT]);
  }
  function fromAddress() {
    const found = /^#strategy=([a-z][a-z0-9_-]{0,31})$/.exec(location.hash);
    return found ? found[1] : "";
  }

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
  function startPolling() { if (pollTimer === null) pollTimer = setInterval(() => want(POLLED), POLL_MS); }
  function stopPolling() { clearInterval(pollTimer); pollTimer = null; }

  function summary(kind, data) {
    const text = what(kind, data);
    return typeof data.strategy === "string" ? `${data.strategy}: ${text}` : text;
  }
  function what(kind, data) {
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

  // An event of one strategy (data.strategy) changes only its own account's panels: while another
  // strategy is shown only the comparison is re-read. Under "all" the tiles and daily P&L are the
  // default account's, so a variant's event leaves those alone.
  function panelsFor(kind, data) {
    // the evening learns resolutions and rebuilds the report's files: read it again
    const panels = kind === "job_finished" && data.job === "evening" ? [...ON_EVENT[kind], "report"] : ON_EVENT[kind];
    const owner = typeof data.strategy === "string" ? data.strategy : null;
    if (owner === null || owner === state.selected) return panels;
    if (state.selected) return panels.filter((p) => !PER_ACCOUNT.has(p));
    if (owner === DEFAULT) return panels;
    return panels.filter((p) => !DEFAULT_ONLY.has(p));
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
        want(panelsFor(kind, data));
      });
    }
  }

  function start() {
    charts = {
      equity: window.PrescientCharts.equity($("#equity-chart")),
      pnl: window.PrescientCharts.dailyPnl($("#pnl-chart")),
      calibration: window.PrescientCharts.calibration($("#calibration-chart")),
    };
    $("#calibration-kind").addEventListener("change", renderCalibration);
    $("#strategy-select").addEventListener("change", (event) => select(event.target.value));
    $("#strategies tbody").addEventListener("click", (event) => {
      const tr = event.target.closest("tr[data-id]");
      if (tr) select(tr.dataset.id === state.selected ? "" : tr.dataset.id);
    });
    window.addEventListener("hashchange", () => select(fromAddress()));
    select(fromAddress());
    want(PANELS);
    connect();
    setInterval(() => want(["status", "health"]), AGES_MS);
    setInterval(() => want(["report"]), REPORT_MS);
  }
  document.addEventListener("DOMContentLoaded", start);
})();

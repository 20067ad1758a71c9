// The dashboard's charts, drawn with the vendored uPlot (static/vendor/uplot).
// Exposes window.PrescientCharts = {equity(el), dailyPnl(el), calibration(el), color(index)};
// each chart returns {update(rows)}. The equity chart draws one account with its drawdown, or,
// given the points of several strategies, one equity line per strategy to compare them; the
// calibration chart draws the report's price buckets against the diagonal.
"use strict";

(function () {
  const GAIN = "#1a7f37", LOSS = "#cf222e", EQUITY = "#0969da";
  const PALETTE = [EQUITY, "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#0a7b83", "#cf222e", "#57606a"];
  const color = (index) => PALETTE[index % PALETTE.length];

  function usdShort(v) {
    if (v == null) return "";
    const a = Math.abs(v);
    if (a >= 1e6) return "$" + (v / 1e6).toFixed(2) + "M";
    if (a >= 1e4) return "$" + (v / 1e3).toFixed(1) + "k";
    return "$" + v.toFixed(0);
  }
  const usd = (u, v) => (v == null ? "–" : "$" + v.toFixed(2));
  const pct = (u, v) => (v == null ? "–" : (v * 100).toFixed(2) + " %");
  const epoch = (iso) => Date.parse(iso) / 1000;
  const DAY_INCRS = [1, 2, 7, 14, 30, 91, 182, 365].map((d) => d * 86400);
  function dayLabel(t) {
    const d = new Date(t * 1000);  // bars sit at noon UTC of their date
    return `${d.getUTCMonth() + 1}/${d.getUTCDate()}`;
  }

  // A new daemon has one point, or a few seconds of them: show at least MIN_SPAN_S around them
  // (uPlot would otherwise stretch a single point's axis over years).
  const MIN_SPAN_S = 600;
  function atLeast(min, max, span) {
    if (min == null || max == null) return [min, max];
    if (max - min >= span) return [min, max];
    const mid = (min + max) / 2;
    return [mid - span / 2, mid + span / 2];
  }

  // uPlot widens a single point's time axis before asking the range: use the data itself
  function dataSpan(u, min, max) {
    const xs = u.data && u.data[0];
    return xs && xs.length ? [xs[0], xs[xs.length - 1]] : [min, max];
  }

  function zeroRange(min, max) {
    const lo = Math.min(0, min == null ? 0 : min), hi = Math.max(0, max == null ? 0 : max);
    const pad = (hi - lo) * 0.08 || 1;
    return [lo < 0 ? lo - pad : 0, hi > 0 ? hi + pad : 0];
  }

  function width(el) {
    return Math.max(300, Math.floor(el.getBoundingClientRect().width) || 600);
  }

  // A chart that is created on the first update and resized with its container; a different
  // shape (another set of series) builds it anew.
  function lazyChart(el, height, makeOpts) {
    let plot = null, shape = null;
    window.addEventListener("resize", () => plot && plot.setSize({width: width(el), height}));
    return function draw(data, points, newShape) {
      el.dataset.points = String(points);
      if (plot && (points === 0 || newShape !== shape)) { plot.destroy(); plot = null; }
      if (points === 0) return;
      if (!plot) { plot = new uPlot(makeOpts(width(el), height, newShape), data, el); shape = newShape; }
      else plot.setData(data);
    };
  }

  const timeScale = {time: true, range: (u, min, max) => atLeast(...dataSpan(u, min, max), MIN_SPAN_S)};
  const usdScale = {range: (u, min, max) => (max - min < 1 ? atLeast(min, max, 2 + Math.abs(max) * 0.02)
                                                          : uPlot.rangeNum(min, max, 0.1, true))};

  // One account: equity (in its strategy's colour) and its drawdown (shaded, right axis).
  function accountOpts(w, h, stroke) {
    return {
      width: w, height: h,
      scales: {
        x: timeScale,
        usd: usdScale,
        dd: {range: (u, min) => [Math.min(min, -0.01) * 1.1, 0]},
      },
      axes: [
        {},
        {scale: "usd", values: (u, vals) => vals.map(usdShort), size: 60},
        {scale: "dd", side: 1, grid: {show: false}, size: 55,
         values: (u, vals) => vals.map((v) => (v * 100).toFixed(1) + "%")},
      ],
      series: [
        {},
        {label: "Equity", scale: "usd", stroke, width: 2, value: usd},
        {label: "Drawdown", scale: "dd", stroke: LOSS, fill: "rgba(207,34,46,0.10)", width: 1, value: pct},
      ],
    };
  }

  // Several accounts: one equity line each, in the strategies' colours (gaps spanned: a younger
  // account has no points before its first poll).
  function compareOpts(w, h, shape) {
    const lines = JSON.parse(shape);
    return {
      width: w, height: h,
      scales: {x: timeScale, usd: usdScale},
      axes: [{}, {scale: "usd", values: (u, vals) => vals.map(usdShort), size: 60}],
      series: [{}, ...lines.map(([name, stroke]) => ({label: name, scale: "usd", stroke, width: 2, value: usd, spanGaps: true}))],
    };
  }

  function equity(el) {
    const draw = lazyChart(el, 260, (w, h, shape) => (shape.startsWith("account ") ? accountOpts(w, h, shape.slice(8))
                                                                                   : compareOpts(w, h, shape)));
    function one(points, stroke) {
      const xs = [], eq = [], dd = [];
      let peak = null;
      for (const p of points) {
        const t = epoch(p.time);
        if (!isFinite(t) || p.equity_usd == null) continue;
        peak = peak == null ? p.equity_usd : Math.max(peak, p.equity_usd);
        xs.push(t);
        eq.push(p.equity_usd);
        dd.push(p.drawdown != null ? p.drawdown : (peak > 0 ? p.equity_usd / peak - 1 : 0));
      }
      draw([xs, eq, dd], xs.length, "account " + stroke);
    }
    function several(points, names, colors) {
      const times = [...new Set(points.map((p) => epoch(p.time)).filter(isFinite))].sort((a, b) => a - b);
      const at = new Map(times.map((t, i) => [t, i]));
      const ys = names.map(() => times.map(() => null));
      let n = 0;
      for (const p of points) {
        const i = at.get(epoch(p.time));
        if (i === undefined || p.equity_usd == null) continue;
        ys[names.indexOf(p.strategy)][i] = p.equity_usd;
        n += 1;
      }
      draw([times, ...ys], n, JSON.stringify(names.map((name) => [name, colors[name] || color(names.indexOf(name))])));
    }
    return {
      // points: [{strategy, time, equity_usd, drawdown}] in time order; colors: {strategy: css}
      update(points, colors) {
        // display order, as the strategies panel: "default" first, then by name
        const names = [...new Set(points.map((p) => p.strategy || "default"))]
          .sort((a, b) => (a === "default" ? -1 : b === "default" ? 1 : a < b ? -1 : a > b ? 1 : 0));
        el.dataset.series = names.join(",");
        colors = colors || {};
        if (names.length > 1) several(points.map((p) => ({...p, strategy: p.strategy || "default"})), names, colors);
        else one(points, colors[names[0]] || EQUITY);
      },
    };
  }

  function dailyPnl(el) {
    const bars = uPlot.paths.bars({size: [0.7, 40]});
    const draw = lazyChart(el, 220, (w, h) => ({
      width: w, height: h,
      scales: {x: {time: true}, y: {range: (u, min, max) => zeroRange(min, max)}},
      axes: [
        {incrs: DAY_INCRS, space: 40, values: (u, vals) => vals.map(dayLabel)},
        {values: (u, vals) => vals.map(usdShort), size: 60},
      ],
      series: [
        {},
        {label: "Gain", stroke: GAIN, fill: "rgba(26,127,55,0.55)", paths: bars, points: {show: false}, fillTo: 0, value: usd},
        {label: "Loss", stroke: LOSS, fill: "rgba(207,34,46,0.55)", paths: bars, points: {show: false}, fillTo: 0, value: usd},
      ],
    }));
    return {
      // rows: [{date, daily_pnl_usd, equity_usd}] in date order
      update(rows) {
        const xs = [], gains = [], losses = [];
        let previous = null;
        for (const r of rows) {
          const t = epoch(r.date + "T12:00:00Z");
          let pnl = r.daily_pnl_usd;
          if (pnl == null && previous != null && r.equity_usd != null) pnl = r.equity_usd - previous;
          previous = r.equity_usd;
          if (!isFinite(t) || pnl == null) continue;
          xs.push(t);
          gains.push(pnl >= 0 ? pnl : null);
          losses.push(pnl < 0 ? pnl : null);
        }
        draw([xs, gains, losses], xs.length, "bars");
      },
    };
  }

  // Calibration: each price bucket at (implied probability, realized YES frequency) with its
  // Wilson interval as a whisker, against the diagonal a calibrated market would sit on.
  function calibration(el) {
    let intervals = [];  // [low, high] per x, beside the plotted data
    const three = (u, v) => (v == null ? "–" : v.toFixed(3));
    const whiskers = (u) => {
      const ctx = u.ctx, [xs, , ys] = u.data, cap = 4 * devicePixelRatio;
      ctx.save();
      ctx.strokeStyle = EQUITY;
      ctx.lineWidth = Math.max(1, devicePixelRatio);
      ctx.beginPath();
      xs.forEach((xv, i) => {
        const [low, high] = intervals[i] || [];
        if (ys[i] == null || low == null || high == null) return;
        const x = u.valToPos(xv, "x", true), y0 = u.valToPos(low, "p", true), y1 = u.valToPos(high, "p", true);
        ctx.moveTo(x, y0); ctx.lineTo(x, y1);
        ctx.moveTo(x - cap, y0); ctx.lineTo(x + cap, y0);
        ctx.moveTo(x - cap, y1); ctx.lineTo(x + cap, y1);
      });
      ctx.stroke();
      ctx.restore();
    };
    const draw = lazyChart(el, 300, (w, h) => ({
      width: w, height: h,
      scales: {x: {time: false, range: () => [0, 1]}, p: {range: () => [0, 1]}},
      axes: [
        {label: "implied probability (mean YES price)", values: (u, vals) => vals.map((v) => v.toFixed(1))},
        {scale: "p", label: "realized YES frequency", values: (u, vals) => vals.map((v) => v.toFixed(1)), size: 50},
      ],
      series: [
        {value: three},
        {label: "calibrated (y = x)", scale: "p", stroke: "#8c959f", width: 1, dash: [6, 4],
         points: {show: false}, spanGaps: true, value: three},
        {label: "realized, with its 95% interval", scale: "p", stroke: EQUITY, width: 0, paths: () => null,
         points: {show: true, size: 8, fill: EQUITY}, value: three},
      ],
      hooks: {draw: [whiskers]},
    }));
    return {
      // buckets: report_calibration rows of one kind
      update(buckets) {
        const rows = buckets.filter((b) => isFinite(b.implied_probability))
          .sort((a, b) => a.implied_probability - b.implied_probability);
        const xs = [0, ...rows.map((b) => b.implied_probability), 1];
        intervals = [[], ...rows.map((b) => [b.wilson_low, b.wilson_high]), []];
        draw([xs, xs.slice(), [null, ...rows.map((b) => b.realized_frequency), null]], rows.length, "calibration");
      },
    };
  }

  window.PrescientCharts = {equity, dailyPnl, calibration, color};
})();

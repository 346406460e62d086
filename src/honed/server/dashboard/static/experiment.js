"use strict";
// One experiment: charts (Apache ECharts, served by honed), tables, live refresh.
// The chart instances are exposed as window.honedCharts for tests and the browser console.
(() => {
  const { el, fmt, ago, duration, when, escapeHtml } = Honed;
  const experimentId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  Honed.header("?experiment=" + encodeURIComponent(experimentId));
  const PAGE_SIZE = 20;
  const charts = (window.honedCharts = { scatter: {} });
  const state = { data: null, sortKey: "id", sortDir: -1, page: 0, metric: null };
  const BLUE = "#2f6fde", GREY = "#9aa5b1", RED = "#c62828";

  function chart(id) {
    const node = document.getElementById(id);
    return echarts.getInstanceByDom(node) || echarts.init(node, null, { renderer: "canvas" });
  }
  window.addEventListener("resize", () => {
    for (const c of [charts.best, charts.pareto, charts.parallel, ...Object.values(charts.scatter)]) c && c.resize();
  });

  const metricsOptimized = (exp) => exp.metrics.filter((m) => m.strategy === "optimize");
  const valueOf = (obs, metric) => (metric in obs.values ? obs.values[metric] : null);
  const tooltip = (title, rows) =>
    `<b>${escapeHtml(title)}</b><br>` + rows.map(([k, v]) => `${escapeHtml(k)}: ${escapeHtml(fmt(v))}`).join("<br>");

  function renderStats(d) {
    const exp = d.experiment;
    const failed = d.observations.filter((o) => o.failed).length;
    const best = d.best_so_far.length === 1 ? d.best_so_far[0].values.at(-1) : null;
    document.title = `honed · ${exp.name}`;
    document.getElementById("title").replaceChildren(exp.name, " ", el("span", { class: "muted" }, `#${exp.id}`));
    const stat = (label, value, id) => el("div", { id }, el("b", {}, value), el("span", { class: "muted" }, label));
    document.getElementById("stats").replaceChildren(
      stat("observations" + (exp.budget ? ` of ${exp.budget}` : ""), String(d.observations.length), "stat-observations"),
      stat("failed", String(failed), "stat-failed"),
      stat("open suggestions", String(d.open_suggestions.length), "stat-open"),
      stat(d.best_so_far.length === 1 ? `best ${d.best_so_far[0].metric}` : "best (Pareto) points", d.best_so_far.length === 1 ? fmt(best) : String(d.best_ids.length), "stat-best"),
      stat("state", exp.state, "stat-state"),
    );
  }

  function renderBest(d) {
    const c = (charts.best = chart("chart-best"));
    const series = [];
    // Two optimized metrics have their own scales: one y axis each, left and right.
    d.best_so_far.forEach((trace, axis) => {
      series.push({
        name: `best ${trace.metric}`, type: "line", step: "end", showSymbol: false, lineStyle: { width: 2.5 },
        yAxisIndex: axis, data: trace.values.map((v, i) => [i + 1, v]),
      });
      series.push({
        name: trace.metric, type: "scatter", symbolSize: 5, itemStyle: { color: GREY }, yAxisIndex: axis,
        data: d.observations.map((o, i) => [i + 1, valueOf(o, trace.metric)]).filter((p) => p[1] !== null),
      });
    });
    const axes = d.best_so_far.map((trace, axis) => ({
      type: "value", scale: true, name: trace.metric, position: axis ? "right" : "left", splitLine: { show: axis === 0 },
    }));
    c.setOption({
      animation: false,
      grid: { left: 60, right: axes.length > 1 ? 60 : 20, top: 40, bottom: 40 },
      legend: { top: 0 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "value", name: "observations", nameLocation: "middle", nameGap: 25, minInterval: 1 },
      yAxis: axes.length ? axes : { type: "value", scale: true },
      series,
    }, { notMerge: true });
  }

  function renderPareto(d) {
    const optimized = metricsOptimized(d.experiment);
    const panel = document.getElementById("pareto-panel");
    panel.hidden = optimized.length !== 2;
    if (panel.hidden) return;
    const [a, b] = optimized.map((m) => m.name);
    const front = new Set(d.pareto_ids);
    const point = (o) => ({ value: [valueOf(o, a), valueOf(o, b)], id: o.id });
    const usable = d.observations.filter((o) => !o.failed && valueOf(o, a) !== null && valueOf(o, b) !== null);
    const c = (charts.pareto = chart("chart-pareto"));
    c.setOption({
      animation: false,
      grid: { left: 60, right: 20, top: 30, bottom: 45 },
      legend: { top: 0 },
      tooltip: { formatter: (p) => tooltip(`observation ${p.data.id}`, [[a, p.value[0]], [b, p.value[1]]]) },
      xAxis: { type: "value", name: a, nameLocation: "middle", nameGap: 28, scale: true },
      yAxis: { type: "value", name: b, scale: true },
      series: [
        { name: "observations", type: "scatter", symbolSize: 6, itemStyle: { color: GREY },
          data: usable.filter((o) => !front.has(o.id)).map(point) },
        { name: "Pareto front", type: "line", symbolSize: 8, itemStyle: { color: BLUE },
          data: usable.filter((o) => front.has(o.id)).map(point).sort((p, q) => p.value[0] - q.value[0]) },
      ],
    }, { notMerge: true });
  }

  function axisFor(param, dim) {
    if (param.type === "categorical") return { dim, name: param.name, type: "category", data: param.categories };
    return { dim, name: param.name, type: "value", scale: true, min: param.bounds?.[0], max: param.bounds?.[1] };
  }

  function renderParallel(d) {
    const exp = d.experiment;
    const metric = state.metric;
    const dims = [...exp.parameters.map(axisFor), { dim: exp.parameters.length, name: metric, type: "value", scale: true }];
    const rows = d.observations
      .filter((o) => !o.failed && valueOf(o, metric) !== null)
      .map((o) => ({ value: [...exp.parameters.map((p) => o.assignments[p.name] ?? null), valueOf(o, metric)], id: o.id }));
    const values = rows.map((r) => r.value.at(-1));
    const c = (charts.parallel = chart("chart-parallel"));
    c.setOption({
      animation: false,
      parallel: { left: 40, right: 60, top: 40, bottom: 30 },
      parallelAxis: dims,
      visualMap: values.length ? {
        show: false, dimension: dims.length - 1, min: Math.min(...values), max: Math.max(...values),
        inRange: { color: ["#d94e5d", "#eac736", "#50a3ba"] },
      } : undefined,
      series: [{ type: "parallel", lineStyle: { width: 1, opacity: 0.6 }, data: rows }],
    }, { notMerge: true });
  }

  function renderScatters(d) {
    const exp = d.experiment;
    const metric = state.metric;
    const box = document.getElementById("scatters");
    const usable = d.observations.filter((o) => !o.failed && valueOf(o, metric) !== null);
    for (const param of exp.parameters) {
      let node = document.getElementById("scatter-" + CSS.escape(param.name));
      if (!node) {
        node = el("div", { class: "chart", id: "scatter-" + param.name, "data-param": param.name });
        box.append(node);
      }
      const c = (charts.scatter[param.name] = echarts.getInstanceByDom(node) || echarts.init(node));
      const categorical = param.type === "categorical";
      c.setOption({
        animation: false,
        title: { text: param.name, left: "center", textStyle: { fontSize: 13 } },
        grid: { left: 55, right: 15, top: 30, bottom: 30 },
        tooltip: { formatter: (p) => tooltip(`observation ${p.data.id}`, [[param.name, p.value[0]], [metric, p.value[1]]]) },
        xAxis: categorical ? { type: "category", data: param.categories } : { type: "value", scale: true },
        yAxis: { type: "value", scale: true, name: metric },
        series: [{
          type: "scatter", symbolSize: 6, itemStyle: { color: BLUE, opacity: 0.75 },
          data: usable.map((o) => ({ value: [o.assignments[param.name] ?? null, valueOf(o, metric)], id: o.id })),
        }],
      }, { notMerge: true });
    }
  }

  function metricSelect(d) {
    const select = document.getElementById("scatter-metric");
    const names = d.experiment.metrics.map((m) => m.name);
    if (!state.metric || !names.includes(state.metric)) state.metric = (metricsOptimized(d.experiment)[0] || d.experiment.metrics[0]).name;
    if (select.options.length !== names.length) {
      select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
      select.onchange = () => {
        state.metric = select.value;
        renderParallel(state.data);
        renderScatters(state.data);
      };
    }
    select.value = state.metric;
  }

  // --- the observations table: sorted and paged in the browser ---
  function columns(exp) {
    return [
      { key: "id", label: "id", num: true, get: (o) => Number(o.id) },
      { key: "created", label: "reported", get: (o) => o.created, show: (o) => when(o.created) },
      { key: "status", label: "status", get: (o) => (o.failed ? 1 : 0),
        show: (o) => el("span", { class: o.failed ? "badge failed" : "badge ok" }, o.failed ? "failed" : "ok") },
      { key: "hostname", label: "hostname", get: (o) => o.hostname },
      ...exp.parameters.map((p) => ({ key: "p:" + p.name, label: p.name, num: p.type !== "categorical",
        get: (o) => o.assignments[p.name] ?? null, show: (o) => fmt(o.assignments[p.name] ?? null) })),
      ...exp.metrics.map((m) => ({ key: "m:" + m.name, label: m.name, num: true,
        get: (o) => valueOf(o, m.name), show: (o) => fmt(valueOf(o, m.name)) })),
    ];
  }

  function compare(a, b) {
    if (a === b) return 0;
    if (a === null) return 1; // missing values (failed observations) sort last both ways
    if (b === null) return -1;
    return a < b ? -1 : 1;
  }

  function renderTable(d) {
    const cols = columns(d.experiment);
    const table = document.getElementById("observations");
    table.tHead.replaceChildren(el("tr", {}, ...cols.map((c) => el("th", {
      class: ["sortable", c.num ? "num" : "", state.sortKey === c.key ? (state.sortDir > 0 ? "sorted-asc" : "sorted-desc") : ""].join(" "),
      "data-key": c.key,
      onclick: () => {
        state.sortDir = state.sortKey === c.key ? -state.sortDir : 1;
        state.sortKey = c.key;
        state.page = 0;
        renderTable(state.data);
      },
    }, c.label))));
    const col = cols.find((c) => c.key === state.sortKey) || cols[0];
    const rows = [...d.observations].sort((a, b) => {
      const [x, y] = [col.get(a), col.get(b)];
      if (x === null || y === null) return compare(x, y);
      return state.sortDir * compare(x, y) || Number(a.id) - Number(b.id);
    });
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const best = new Set(d.best_ids);
    table.tBodies[0].replaceChildren(...rows.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE).map((o) =>
      el("tr", { class: o.failed ? "failed" : best.has(o.id) ? "best" : "", "data-id": o.id },
        ...cols.map((c) => el("td", { class: c.num ? "num" : "" }, c.show ? c.show(o) : fmt(c.get(o)))))));
    document.getElementById("page-info").textContent = `page ${state.page + 1} of ${pages} (${rows.length} observations)`;
    document.getElementById("prev-page").disabled = state.page === 0;
    document.getElementById("next-page").disabled = state.page >= pages - 1;
  }
  document.getElementById("prev-page").onclick = () => { state.page -= 1; renderTable(state.data); };
  document.getElementById("next-page").onclick = () => { state.page += 1; renderTable(state.data); };

  function simpleTable(id, emptyId, heads, rows) {
    const table = document.getElementById(id);
    table.tHead.replaceChildren(el("tr", {}, ...heads.map((h) => el("th", {}, h))));
    table.tBodies[0].replaceChildren(...rows);
    document.getElementById(emptyId).hidden = rows.length > 0;
  }

  // What the optimizer's model knew when it chose the point: observations it was fitted
  // on, batch or pool, and "stale" when it missed more results than the workers allow.
  function modelCell(m) {
    if (!m) return el("td", {}, "");
    const title = `fitted on ${m.observations} observations; ${m.unaccounted} stored results ` +
      `neither seen nor pending when handed out`;
    return el("td", { title, class: "model" }, `${m.observations} obs, ${m.candidate}`,
      m.fresh ? null : el("span", { class: "badge stale" }, "stale"));
  }

  function renderSuggestions(d) {
    simpleTable("suggestions", "no-suggestions", ["id", "open for", "source", "model", "assignments"],
      d.open_suggestions.map((s) => el("tr", { "data-id": s.id },
        el("td", {}, s.id), el("td", { title: when(s.created) }, duration(s.age)), el("td", {}, s.source),
        modelCell(s.model),
        el("td", {}, Object.entries(s.assignments).map(([k, v]) => `${k}=${fmt(v)}`).join(", ")))));
  }

  function renderWorkers(d) {
    simpleTable("workers", "no-workers", ["hostname", "last report", "observations", "failures"],
      d.workers.map((w) => el("tr", { "data-hostname": w.hostname },
        el("td", {}, w.hostname, " ", w.silent ? el("span", { class: "badge silent" }, "silent") : null),
        el("td", { title: when(w.last_report) }, ago(d.now - w.last_report)),
        el("td", { class: "num" }, w.observations),
        el("td", { class: "num" }, w.failures ? el("span", { class: "badge failed" }, w.failures) : "0"))));
  }

  async function load() {
    const d = await Honed.api("/dashboard/api/experiments/" + encodeURIComponent(experimentId));
    state.data = d;
    metricSelect(d);
    renderStats(d);
    renderBest(d);
    renderPareto(d);
    renderParallel(d);
    renderScatters(d);
    renderTable(d);
    renderSuggestions(d);
    renderWorkers(d);
    window.honedLoaded = (window.honedLoaded || 0) + 1;
  }

  Honed.live(load);
})();

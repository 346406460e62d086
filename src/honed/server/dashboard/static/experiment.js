"use strict";
// One experiment: header, definition, the history charts, and the views of views/*.js,
// refreshed live. Charts redraw only when the data's version changes (the server answers
// 304 otherwise); the chart instances are window.honedCharts for tests and the console.
(() => {
  const { el, fmt, duration } = Honed;
  const C = HonedCharts;
  const experimentId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  Honed.header("?experiment=" + encodeURIComponent(experimentId));
  const charts = (window.honedCharts = { scatter: {} });
  // `model`: the optimizer's analysis of its model (importance, slice bands), polled apart:
  // an optimizer process stores it after a fit, usually a moment after the data changed.
  const page = (window.honedPage = { data: null, model: null, metric: null, clockOffset: 0 });
  const PARALLEL_LIMIT = 5000;

  const optimizedOf = (exp) => exp.metrics.filter((m) => m.strategy === "optimize");
  const valueOf = (obs, metric) => (metric in obs.values ? obs.values[metric] : null);
  const completed = (d) => d.observations.filter((o) => o.status === "completed");

  function renderStats(d) {
    const exp = d.experiment;
    const count = (status) => d.observations.filter((o) => o.status === status).length;
    const single = d.best_so_far.length === 1;
    document.title = `honed · ${exp.name}`;
    document.getElementById("title").replaceChildren(exp.name, " ", el("span", { class: "muted" }, `#${exp.id}`));
    const stat = (label, value, id) => el("div", { id }, el("b", {}, value), el("span", { class: "muted" }, label));
    // A multitask experiment spends its budget in task costs: the header counts that.
    const multitask = exp.tasks.length > 0;
    document.getElementById("stats").replaceChildren(
      ...(multitask
        ? [stat("budget used" + (exp.budget ? ` of ${exp.budget}` : ""), fmt(d.budget_consumed), "stat-budget")]
        : []),
      stat("observations" + (exp.budget && !multitask ? ` of ${exp.budget}` : ""), String(d.observations.length), "stat-observations"),
      stat("completed", String(count("completed")), "stat-completed"),
      stat("failed", String(count("failed")), "stat-failed"),
      stat("stopped early", String(count("early_stopped")), "stat-stopped"),
      stat("open suggestions", String(d.open_suggestions.length), "stat-open"),
      stat(single ? `best ${d.best_so_far[0].metric}` : "best (Pareto) points",
        single ? fmt(d.best_so_far[0].values.at(-1) ?? null) : String(d.best_ids.length), "stat-best"),
      stat("state", exp.state, "stat-state"),
    );
  }

  // The experiment as defined: what the optimizer searches and for what.
  function renderDefinition(d) {
    const exp = d.experiment;
    const range = (p) => {
      if (p.type === "categorical") return p.categories.join(", ");
      if (p.grid) return "grid " + p.grid.map(fmt).join(", ");
      return `${fmt(p.bounds[0])} … ${fmt(p.bounds[1])}`;
    };
    const table = (id, heads, rows) => {
      const t = document.getElementById(id);
      t.tHead.replaceChildren(el("tr", {}, ...heads.map((h) => el("th", {}, h))));
      t.tBodies[0].replaceChildren(...rows);
    };
    // With conditionals: their rows first, and when each parameter applies.
    const conditional = exp.conditionals.length > 0;
    const appliesWhen = (p) => Object.entries(p.conditions).map(([k, v]) => `${k} ∈ {${v.join(", ")}}`).join(" and ") || "always";
    table("definition-parameters", ["parameter", "type", "range", "scale", ...(conditional ? ["applies when"] : [])], [
      ...exp.conditionals.map((c) => el("tr", { "data-name": c.name },
        el("td", {}, c.name), el("td", {}, "conditional"), el("td", {}, c.values.join(", ")), el("td", {}, "–"), el("td", {}, "–"))),
      ...exp.parameters.map((p) => el("tr", { "data-name": p.name },
        el("td", {}, p.name), el("td", {}, p.type), el("td", {}, range(p)),
        el("td", {}, p.transformation === "log" ? "log" : p.type === "categorical" ? "–" : "linear"),
        ...(conditional ? [el("td", {}, appliesWhen(p))] : [])))]);
    table("definition-metrics", ["metric", "objective", "strategy", "threshold"],
      exp.metrics.map((m) => el("tr", { "data-name": m.name },
        el("td", {}, el("span", { class: "swatch", style: `background:${C.metricColour(exp, m.name)}` }), m.name),
        el("td", {}, m.objective), el("td", {}, m.strategy), el("td", {}, fmt(m.threshold)))));
    const facts = [
      ["type", exp.type],
      ["observation budget", (exp.budget ?? "none") + (exp.tasks.length && exp.budget ? " (in task costs)" : "")],
      // Multitask: each task's cost relative to the full evaluation; only cost 1 counts as best.
      ...(exp.tasks.length ? [["tasks", exp.tasks.map((t) => `${t.name} (cost ${fmt(t.cost)})`).join(", ")]] : []),
      ["parallel bandwidth", exp.parallel_bandwidth ?? "not set"],
      ...(exp.num_solutions > 1 ? [["solutions wanted", `${exp.num_solutions}, the best rows of the table`]] : []),
      ["suggestion TTL", exp.suggestion_ttl_seconds ? duration(exp.suggestion_ttl_seconds) : "none"],
      ["project", exp.project ?? "none"],
      ...exp.linear_constraints.map((c, i) => [`constraint ${i + 1}`,
        Object.entries(c.terms).map(([k, w]) => `${fmt(w)}·${k}`).join(" + ") +
        (c.type === "greater_than" ? " ≥ " : " ≤ ") + fmt(c.threshold)]),
    ];
    document.getElementById("definition-facts").replaceChildren(
      ...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-fact": k }, String(v))]));
  }

  // Best so far per optimized metric (early-stopped trials never count), every completed
  // value in its metric's colour (a multitask experiment's cheaper tasks in colours of their
  // own), and the stopped trials marked apart.
  function renderBest(d) {
    const exp = d.experiment;
    const c = (charts.best = C.chart("chart-best"));
    if (C.setEmpty("chart-best", d.observations.length ? "" : "No observations yet.")) return;
    const series = [];
    d.best_so_far.forEach((trace, axis) => {
      const colour = C.metricColour(exp, trace.metric);
      series.push({
        id: `best-${trace.metric}`, name: `best ${trace.metric}`, type: "line", step: "end", showSymbol: false,
        lineStyle: { width: 2.5, color: colour }, itemStyle: { color: colour }, yAxisIndex: axis,
        data: trace.values.map((v, i) => [i + 1, v]),
      });
      // Multitask: each task's values apart (only the cost-1 task's count as best), so a
      // cheap task's better-looking value does not seem to be missed by the best line.
      const done = d.observations.flatMap((o, i) => (o.status === "completed" && valueOf(o, trace.metric) !== null
        ? [{ ...o, position: i + 1 }] : []));
      for (const p of C.taskPoints(exp, trace.metric, done)) series.push({
        id: `obs-${trace.metric}` + (exp.tasks.length ? `-${p.id}` : ""), name: p.name, type: "scatter", symbolSize: 5,
        large: true, itemStyle: { color: p.colour, opacity: 0.45 }, yAxisIndex: axis,
        data: p.observations.map((o) => ({ value: [o.position, valueOf(o, trace.metric)], id: o.id })),
      });
    });
    const first = d.best_so_far[0]?.metric;
    const stopped = d.observations.map((o, i) => [o, i])
      .filter(([o]) => o.status === "early_stopped" && valueOf(o, first) !== null);
    // Only when there are any: the legend lists every series, an empty one too.
    if (stopped.length) series.push({
      id: "stopped", name: "stopped early", type: "scatter", symbol: "triangle", symbolSize: 8,
      itemStyle: { color: C.ORANGE }, yAxisIndex: 0,
      data: stopped.map(([o, i]) => ({ value: [i + 1, valueOf(o, first)], id: o.id })),
    });
    // Two metrics' names share the top line: each is cut to half of it.
    const room = (c.getWidth() - 40) / Math.max(1, d.best_so_far.length);
    const axes = d.best_so_far.map((trace, axis) => C.valueAxis({
      name: trace.metric, position: axis ? "right" : "left", splitLine: { show: axis === 0 }, ...C.nameCut(room),
    }));
    C.draw(c, {
      grid: { left: 60, right: axes.length > 1 ? 60 : 20, top: C.LEGEND_TOP, bottom: 40 },
      xAxis: C.valueAxis({ name: "observations", nameLocation: "middle", nameGap: 25, minInterval: 1, min: 1 }),
      yAxis: axes.length ? axes : C.valueAxis(),
      series,
    }, { ...C.LEGEND, tooltip: { trigger: "item" } });
  }

  function renderPareto(d) {
    const optimized = optimizedOf(d.experiment);
    const panel = document.getElementById("pareto-panel");
    panel.hidden = optimized.length !== 2;
    if (panel.hidden) return;
    const [a, b] = optimized.map((m) => m.name);
    const front = new Set(d.pareto_ids);
    const point = (o) => ({ value: [valueOf(o, a), valueOf(o, b)], id: o.id });
    const usable = d.observations.filter((o) => !o.failed && valueOf(o, a) !== null && valueOf(o, b) !== null);
    // An early-stopped trial's values are partial: never on the front, and marked as in
    // the best-so-far chart, not a grey point that may seem to beat the front.
    const done = usable.filter((o) => o.status !== "early_stopped");
    const stopped = usable.filter((o) => o.status === "early_stopped");
    const c = (charts.pareto = C.chart("chart-pareto"));
    if (C.setEmpty("chart-pareto", usable.length ? "" : "No observation has both metrics yet.")) return;
    C.draw(c, {
      grid: { left: 60, right: 20, top: C.LEGEND_TOP, bottom: 45 },
      xAxis: C.valueAxis({ name: a, nameLocation: "middle", nameGap: 28, ...C.nameCut(c.getWidth() - 80) }),
      yAxis: C.valueAxis({ name: b, ...C.nameCut(c.getWidth() - 40) }),
      series: [
        { id: "others", name: "observations", type: "scatter", symbolSize: 6, large: true, itemStyle: { color: C.GREY },
          data: done.filter((o) => !front.has(o.id)).map(point) },
        { id: "front", name: "Pareto front", type: "line", symbolSize: 8, itemStyle: { color: C.PALETTE[0] },
          data: done.filter((o) => front.has(o.id)).map(point).sort((p, q) => p.value[0] - q.value[0]) },
        // Only when there are any: the legend lists every series, an empty one too.
        ...(stopped.length ? [{ id: "stopped", name: "stopped early", type: "scatter", symbol: "triangle", symbolSize: 8,
          itemStyle: { color: C.ORANGE }, data: stopped.map(point) }] : []),
      ],
    }, { ...C.LEGEND, tooltip: { trigger: "item" } });
  }

  // Parallel coordinates: drag on an axis to select a range; the selection is kept across
  // refreshes because updates merge. Above PARALLEL_LIMIT lines it draws every nth one and
  // every best one, and says so.
  function renderParallel(d) {
    const exp = d.experiment;
    const metric = page.metric;
    const usable = completed(d).filter((o) => valueOf(o, metric) !== null);
    const c = (charts.parallel = C.chart("chart-parallel"));
    if (C.setEmpty("chart-parallel", usable.length ? "" : `No completed observation of ${metric} yet.`)) return;
    const best = new Set(d.best_ids);
    const shown = C.downsample(usable, PARALLEL_LIMIT, (o) => best.has(o.id));
    C.note("parallel-note", shown.length < usable.length
      ? `Downsampled: ${shown.length} of ${usable.length} completed observations drawn (every ${C.ordinal(Math.ceil(usable.length / PARALLEL_LIMIT))}, and the best).` : "");
    // Each axis' name (centred above it) and category labels (to its right) are cut to the
    // room before the next axis, so none runs into its neighbour or past the chart's edge.
    // A category axis ticks its categories, where the lines meet it, not the bounds between
    // them (ECharts' default), which read as values of their own.
    // A multitask experiment's lines run through a task axis too (a cheaper task's value is
    // a partial evaluation), between the parameters and the metric; a brush on it picks tasks.
    const tasks = exp.tasks.map((t) => t.name);
    const count = exp.parameters.length + (tasks.length ? 1 : 0) + 1;
    let name = Math.min(140, (c.getWidth() - 100) / (count - 1) - 8);
    const [left, right] = [Math.max(40, name / 2 + 4), Math.max(60, name / 2 + 4)];
    const spacing = (c.getWidth() - left - right) / (count - 1);
    name = Math.min(name, spacing - 8);
    const fitted = (axis) => ({
      ...axis, ...C.nameCut(name),
      axisLabel: { ...axis.axisLabel, ...(axis.type === "category" ? C.cut(spacing - 14) : {}) },
      ...(axis.type === "category" ? { axisTick: { alignWithLabel: true } } : {}),
    });
    const dims = [
      ...exp.parameters.map((p, dim) => C.paramAxis(p, { dim, name: p.name })),
      ...(tasks.length ? [C.paramAxis({ type: "categorical", categories: tasks }, { dim: exp.parameters.length, name: "task" })] : []),
      C.valueAxis({ dim: count - 1, name: metric }),
    ].map(fitted);
    const values = shown.map((o) => valueOf(o, metric));
    C.draw(c, {
      parallel: { left, right, top: 40, bottom: 30 },
      parallelAxis: dims,
      visualMap: {
        show: false, dimension: dims.length - 1, min: Math.min(...values), max: Math.max(...values),
        inRange: { color: C.valueColours(exp, metric) },
      },
      series: [{
        id: "parallel", type: "parallel", lineStyle: { width: 1, opacity: 0.5 }, progressive: 0,
        data: shown.map((o) => ({ value: [...exp.parameters.map((p) => o.assignments[p.name] ?? null),
          ...(tasks.length ? [o.task] : []), valueOf(o, metric)], id: o.id })),
      }],
    });
  }

  function metricSelect(d) {
    const select = document.getElementById("metric");
    const names = d.experiment.metrics.map((m) => m.name);
    if (!page.metric || !names.includes(page.metric)) page.metric = (optimizedOf(d.experiment)[0] || d.experiment.metrics[0]).name;
    if (select.options.length !== names.length) {
      select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
      select.onchange = () => {
        page.metric = select.value;
        drawAll(page.data);
      };
    }
    select.value = page.metric;
  }

  function drawAll(d) {
    renderStats(d);
    renderDefinition(d);
    renderBest(d);
    renderPareto(d);
    renderParallel(d);
    for (const view of HonedViews) view.render(d, { metric: page.metric, model: page.model, charts, valueOf, optimizedOf });
  }

  function notFound(error) {
    document.querySelector("main").replaceChildren(
      el("h1", {}, `Experiment ${experimentId}`),
      el("p", { class: "panel", id: "not-found" },
        error.status === 404
          ? "No such experiment: it does not exist, was deleted, or this token may not see it."
          : `This experiment cannot be shown: ${error.message}`,
        " ", el("a", { href: "/dashboard/" }, "All experiments")));
  }

  async function load() {
    let d;
    try {
      d = await Honed.api("/dashboard/api/experiments/" + encodeURIComponent(experimentId), "GET", page.data?.version);
    } catch (error) {
      if (error instanceof Honed.ApiError && (error.status === 404 || error.status === 400)) {
        notFound(error);
        return false;
      }
      throw error;
    }
    if (d !== null) {
      page.data = d;
      page.clockOffset = d.now - Date.now() / 1000;
    }
    const model = await Honed.api(`/dashboard/api/experiments/${encodeURIComponent(experimentId)}/model`, "GET", page.model?.version);
    if (model !== null) page.model = model;
    if (d !== null || model !== null) {
      metricSelect(page.data);
      drawAll(page.data);
      window.honedDrawn = (window.honedDrawn || 0) + 1;
    }
    for (const view of HonedViews) if (view.tick) view.tick(page.data, Date.now() / 1000 + page.clockOffset);
    window.honedLoaded = (window.honedLoaded || 0) + 1;
  }

  // Names and labels are cut to the charts' widths as drawn: a resized window redraws them
  // (merged, as every redraw, so a brush or a zoom stays).
  let resized = null;
  window.addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(() => { if (page.data) drawAll(page.data); }, 200);
  });

  Honed.live(load);
})();

"use strict";
// Analysis views, computed in the browser from the page's data: slices per parameter (with
// the model's band from views-model.js), the EDF of the objective, learning curves from
// intermediate values, hypervolume over time, and a binned contour of two parameters (the
// trial timeline is views-timeline.js).
(() => {
  const { el, fmt, escapeHtml } = Honed;
  const C = HonedCharts;
  const CURVE_LIMIT = 1000;
  const MAX_BINS = 20;
  // More dots than this on the contour hide the colours of its cells.
  const CONTOUR_POINT_LIMIT = 2000;

  const tooltip = (title, rows) =>
    `<b>${escapeHtml(title)}</b><br>` + rows.map(([k, v]) => `${escapeHtml(k)}: ${escapeHtml(fmt(v))}`).join("<br>");

  // --- slices: the metric against each parameter, stopped trials marked, and the model's
  // prediction with a ±2 sd band (the other parameters at the best observed point). The
  // band is a transparent lower line with the band's width stacked on it. A dotted line
  // marks the value the model clipped the bad tail at (`clippedAt`, when it did); a dashed
  // line each limit this slice's band is cut at (`cuts`: see renderSlices).
  // A categorical parameter has no values between its categories: there the band is a
  // floating bar per category (a transparent bar up to the lower bound, the band's width
  // stacked on it) and the mean a dash, not a line and an area running from one category
  // to the next.
  function modelSeries(band, exp, metric, clippedAt, cuts, categorical) {
    const colour = C.metricColour(exp, metric);
    const xs = band ? band.values : [];
    const line = (id, extra, ys) => ({
      id, type: "line", showSymbol: false, stack: extra.stack, stackStrategy: "all", silent: extra.silent,
      lineStyle: extra.lineStyle, areaStyle: extra.areaStyle, itemStyle: { color: colour }, z: 1,
      data: xs.map((x, i) => [x, ys[i]]),
    });
    const bar = (id, opacity, ys) => ({
      id, type: "bar", stack: "band", stackStrategy: "all", silent: true, barWidth: "40%", z: 1,
      itemStyle: { color: colour, opacity }, data: xs.map((x, i) => [x, ys[i]]),
    });
    const widths = band ? band.upper.map((u, i) => u - band.lower[i]) : [];
    const mean = categorical
      ? { ...line("model-mean", {}, band ? band.mean : []), type: "scatter", symbol: "rect", symbolSize: [28, 2] }
      : line("model-mean", { lineStyle: { color: colour, width: 1.5 } }, band ? band.mean : []);
    return [
      ...(categorical
        ? [bar("model-lower", 0, band ? band.lower : []), bar("model-band", 0.15, widths)]
        : [line("model-lower", { stack: "band", silent: true, lineStyle: { opacity: 0 } }, band ? band.lower : []),
          line("model-band", { stack: "band", silent: true, lineStyle: { opacity: 0 }, areaStyle: { color: colour, opacity: 0.15 } }, widths)]),
      { ...mean, name: "model",
        markLine: { silent: true, symbol: "none", label: { show: false }, lineStyle: { type: "dotted", color: C.GREY, width: 1.5 },
          data: band ? [...(clippedAt !== null && clippedAt !== undefined ? [{ yAxis: clippedAt }] : []),
            ...cuts.map((y) => ({ yAxis: y, lineStyle: { type: "dashed" } }))] : [] } },
    ];
  }

  function renderSlices(d, ctx) {
    const exp = d.experiment;
    const metric = ctx.metric;
    const box = document.getElementById("scatters");
    const with_ = (status) => d.observations.filter((o) => o.status === status && ctx.valueOf(o, metric) !== null);
    const [done, stopped] = [with_("completed"), with_("early_stopped")];
    const [analysis] = HonedModel.metricAnalysis(ctx.model, metric);
    if (C.setEmpty("scatters", done.length || stopped.length || analysis ? "" : `No completed observation of ${metric} yet.`)) {
      C.note("slices-note", "");
      return;
    }
    // Where the model clipped the bad tail, its band sits at the clip, not at those points:
    // say so, or the band would look wrong exactly where the worst observations are.
    const clip = analysis && analysis.clipped
      ? ` The model sees the ${analysis.clipped === 1 ? "worst value" : `${analysis.clipped} worst values`} of ${metric} as ` +
        `${fmt(analysis.clipped_at)} (dotted line; values past Tukey's fence are clipped so that a few very bad ` +
        "points do not dominate the fit), so there its band stays near that line."
      : "";
    // Where the band reached the span the model's predictions are mapped back within, it
    // runs flat: say so, or the flat edge would read as the model's certainty. The slices
    // whose band reached a limit mark it.
    const cutAt = analysis && analysis.band_limits ? analysis.band_cut_at || [] : [];
    const cutsOf = (band) => cutAt.filter((y) => (y === analysis.band_limits[1]
      ? Math.max(...band.upper) >= y : Math.min(...band.lower) <= y));
    const cut = cutAt.length
      ? ` The model's band is cut at ${cutAt.map(fmt).join(" and ")} (dashed line; it runs flat there): the model ` +
        `fits ${metric} on a transformed scale and shows its predictions only from ${fmt(analysis.band_limits[0])} ` +
        `to ${fmt(analysis.band_limits[1])} (the range of the values it was fitted on, widened by its own width ` +
        "either side); beyond, they are not shown."
      : "";
    // Multitask: the band is the model's at the target task, based at that task's best
    // result, while the points are the observations of every task.
    const task = ctx.model?.task;
    C.note("slices-note", analysis
      ? `Model band: the prediction and ±2 standard deviations of the model${HonedModel.atTask(ctx.model)}, with the ` +
        `other parameters at the best observed point${task ? " of that task" : ""} (` +
        Object.entries(analysis.anchor).map(([k, v]) => `${k} = ${fmt(v)}`).join(", ") + "). " +
        (task ? "The points are the observations of every task, each task in its own colour. " : "") + ctx.model.message + clip + cut
      : "");
    const points = C.taskPoints(exp, metric, done);
    for (const param of exp.parameters) {
      const id = "scatter-" + param.name;
      if (!document.getElementById(id)) box.append(el("div", { class: "chart", id, "data-param": param.name }));
      const c = (ctx.charts.scatter[param.name] = C.chart(id));
      const prediction = HonedModel.slice(ctx.model, metric, param.name);
      const point = (o) => ({ value: [o.assignments[param.name] ?? null, ctx.valueOf(o, metric)], id: o.id, task: o.task });
      // The parameter names the x axis and the metric the y axis, along it: a long name on
      // top, where a title was, ran into the other.
      const [width, height] = [c.getWidth(), c.getHeight()];
      // A category's label sits mid-band and is cut to the band's width (ECharts lays a cut
      // label out at that width, and hides the neighbours a wider one would overlap); where
      // bands are narrow, labels slant, cut shorter, so that more of them show. A number's
      // first and last labels are kept within the axis' ends.
      const axis = C.paramAxis(param, {
        name: param.name + (C.isLog(param) ? " (log)" : ""), nameLocation: "middle", nameGap: 25,
        nameTextStyle: { fontWeight: "bold" }, ...C.nameCut(width - 30),
      });
      const band = (width - 70) / (param.categories || []).length;
      // Slanted 40°, a label needs 20 px of axis; on narrower bands every nth is labelled.
      const slanted = { ...C.labelled(axis, 70).axisLabel, rotate: 40, interval: Math.ceil(20 / band) - 1 };
      C.draw(c, {
        ...(exp.tasks.length ? { legend: { ...C.LEGEND.legend, data: [...points.map((p) => p.name), ...(stopped.length ? ["stopped early"] : [])] } } : {}),
        grid: { left: 55, right: 15, top: exp.tasks.length ? 32 : 12, bottom: 45 },
        xAxis: param.type !== "categorical" ? C.horizontal(axis)
          : band >= 66 ? C.labelled(axis, band - 6) : { ...axis, axisLabel: slanted },
        yAxis: C.valueAxis({ name: metric, nameLocation: "middle", nameGap: 40, ...C.nameCut(height - 60) }),
        series: [
          ...points.map(({ id, name, colour, observations }) => ({ id, name, type: "scatter", symbolSize: 6, large: true, z: 3,
            itemStyle: { color: colour, opacity: 0.7 }, data: observations.map(point) })),
          ...(stopped.length ? [{ id: "stopped", name: "stopped early", type: "scatter", symbol: "triangle", symbolSize: 8, z: 3,
            itemStyle: { color: C.ORANGE }, data: stopped.map(point) }] : []),
          ...modelSeries(prediction, exp, metric, analysis && analysis.clipped_at, prediction?.upper ? cutsOf(prediction) : [],
            param.type === "categorical"),
        ],
        tooltip: { formatter: (p) => (p.seriesId === "model-mean"
          ? tooltip("model prediction", [[param.name, p.value[0]], [metric, p.value[1]]])
          : tooltip(`observation ${p.data.id}`, [[param.name, p.value[0]], [metric, p.value[1]],
            ...(p.data.task ? [["task", p.data.task]] : [])])) },
      });
    }
  }

  // --- EDF: the share of completed observations at or below each value --------------------
  function renderEdf(d, ctx) {
    const exp = d.experiment;
    const c = (ctx.charts.edf = C.chart("chart-edf"));
    const done = d.observations.filter((o) => o.status === "completed" && ctx.valueOf(o, ctx.metric) !== null);
    if (C.setEmpty("chart-edf", done.length ? "" : `No completed observation of ${ctx.metric} yet.`)) return;
    // A multitask experiment: one distribution per task, as a cheaper task's values are of
    // partial evaluations (mixed in, they made the full task's look worse than it is).
    const groups = C.taskPoints(exp, ctx.metric, done);
    C.draw(c, {
      grid: { left: 55, right: 20, top: C.LEGEND_TOP, bottom: 40 },
      xAxis: C.valueAxis({ name: ctx.metric, nameLocation: "middle", nameGap: 25, ...C.nameCut(c.getWidth() - 80) }),
      yAxis: C.valueAxis({ name: "share ≤ value", min: 0, max: 1 }),
      series: groups.map((g) => {
        const values = g.observations.map((o) => ctx.valueOf(o, ctx.metric)).sort((a, b) => a - b);
        return { id: exp.tasks.length ? `edf-${g.id}` : "edf", name: g.name, type: "line", step: "end", showSymbol: false,
          itemStyle: { color: g.colour }, data: values.map((v, i) => [v, (i + 1) / values.length]) };
      }),
    }, { ...C.LEGEND, tooltip: { trigger: "axis" } });
  }

  // --- learning curves: intermediate values by step, stopped trials in their own colour ----
  // The curves are of the objective (C.curveMetric), whichever metric the other views show.

  function renderCurves(d, ctx) {
    const panel = document.getElementById("curves-panel");
    const traced = d.observations.filter((o) => o.curve);
    panel.hidden = traced.length === 0;
    if (panel.hidden) return;
    const shown = traced.slice(-CURVE_LIMIT);
    C.note("curves-note", shown.length < traced.length ? `The newest ${shown.length} of ${traced.length} curves are drawn.` : "");
    const metric = C.curveMetric(d.experiment);
    document.getElementById("curves-metric").textContent = `(${metric} by step)`;
    const c = (ctx.charts.curves = C.chart("chart-curves"));
    // One series per status that occurs (the legend lists only those); curves are joined
    // with a gap ("-") so thousands of trials are at most three series, not thousands.
    const statuses = Object.keys(C.STATUS_LABELS).filter((status) => shown.some((o) => o.status === status));
    const series = statuses.map((status) => ({
      id: status, name: C.STATUS_LABELS[status], type: "line", showSymbol: false, connectNulls: false,
      lineStyle: { width: 1.2, type: status === "early_stopped" ? "dashed" : "solid", color: C.STATUS_COLOURS[status] },
      itemStyle: { color: C.STATUS_COLOURS[status] },
      data: shown.filter((o) => o.status === status).flatMap((o) => [...o.curve, ["-", "-"]]),
    }));
    C.draw(c, {
      grid: { left: 55, right: 20, top: C.LEGEND_TOP, bottom: 40 },
      xAxis: C.valueAxis({ name: "step", nameLocation: "middle", nameGap: 25 }),
      yAxis: C.valueAxis({ name: metric, ...C.nameCut(c.getWidth() - 40) }),
      series,
    }, { ...C.LEGEND, tooltip: { trigger: "item" } });
  }

  // --- hypervolume over time (two optimized metrics; computed by the server) --------------
  function renderHypervolume(d, ctx) {
    const panel = document.getElementById("hypervolume-panel");
    panel.hidden = ctx.optimizedOf(d.experiment).length !== 2;
    if (panel.hidden) return;
    const c = (ctx.charts.hypervolume = C.chart("chart-hypervolume"));
    if (C.setEmpty("chart-hypervolume", d.hypervolume ? "" : "No observation ranks yet.")) return;
    const [a, b] = ctx.optimizedOf(d.experiment).map((m) => m.name);
    C.note("hypervolume-note", `Area dominated by the Pareto front, from the reference point ` +
      `${a} = ${fmt(d.hypervolume.reference[0])}, ${b} = ${fmt(d.hypervolume.reference[1])} ` +
      "(each metric's threshold, else its worst value).");
    C.draw(c, {
      grid: { left: 65, right: 20, top: 35, bottom: 40 },
      xAxis: C.valueAxis({ name: "observations", nameLocation: "middle", nameGap: 25, min: 1, minInterval: 1 }),
      yAxis: C.valueAxis({ name: "hypervolume" }),
      series: [{ id: "hv", type: "line", step: "end", showSymbol: false, itemStyle: { color: C.PALETTE[0] },
        data: d.hypervolume.values.map((v, i) => [i + 1, v]) }],
    }, { tooltip: { trigger: "axis" } });
  }

  // --- contour: the mean of the metric in a grid (up to 20 x 20) of two parameters (log-spaced for
  // log parameters), with the observations on top. Empty cells stay blank: no interpolation.
  function edges(param, bins) {
    const [lo, hi] = param.bounds;
    const log = C.isLog(param);
    const [a, b] = log ? [Math.log10(lo), Math.log10(hi)] : [lo, hi];
    return Array.from({ length: bins + 1 }, (_, i) => (log ? 10 ** (a + ((b - a) * i) / bins) : a + ((b - a) * i) / bins));
  }
  function binOf(cuts, v) {
    let i = 0;
    while (i < cuts.length - 2 && v >= cuts[i + 1]) i += 1;
    return i;
  }

  function renderContour(d, ctx) {
    const exp = d.experiment;
    const numeric = exp.parameters.filter((p) => p.type !== "categorical");
    const panel = document.getElementById("contour-panel");
    panel.hidden = numeric.length < 2;
    if (panel.hidden) return;
    const [sx, sy] = ["contour-x", "contour-y"].map((id) => document.getElementById(id));
    const names = numeric.map((p) => p.name);
    if (sx.options.length !== names.length) {
      for (const [select, pick] of [[sx, 0], [sy, 1]]) {
        select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
        select.value = select.dataset.shown = names[pick];
      }
      // One parameter on both axes would draw a diagonal that says nothing: choosing the
      // other axis' parameter swaps the two.
      for (const [select, other] of [[sx, sy], [sy, sx]]) {
        select.onchange = () => {
          if (select.value === other.value) other.value = other.dataset.shown = select.dataset.shown;
          select.dataset.shown = select.value;
          renderContour(window.honedPage.data, ctx);
        };
      }
    }
    const [px, py] = [sx.value, sy.value].map((n) => numeric.find((p) => p.name === n));
    // Multitask: the full-cost task's observations only; a cheaper task's values are of
    // partial evaluations, and averaged in they would move the cells' means.
    const target = exp.tasks.length ? exp.tasks.reduce((a, t) => (t.cost > a.cost ? t : a)) : null;
    const points = d.observations.filter((o) => o.status === "completed" && ctx.valueOf(o, ctx.metric) !== null
      && (!target || o.task === target.name)
      && typeof o.assignments[px.name] === "number" && typeof o.assignments[py.name] === "number");
    const c = (ctx.charts.contour = C.chart("chart-contour"));
    const atTask = target ? ` at task ${target.name}` : "";
    if (C.setEmpty("chart-contour", points.length ? "" : `No completed observation of ${ctx.metric}${atTask} yet.`)) {
      C.note("contour-note", "");
      return;
    }
    const dots = C.downsample(points, CONTOUR_POINT_LIMIT);
    C.note("contour-note", (target ? `Cells and points: the observations${atTask} (cost ${fmt(target.cost)}) only. ` : "") +
      (dots.length < points.length
        ? `Downsampled: ${dots.length} of ${points.length} observations drawn as points (every ` +
          `${C.ordinal(Math.ceil(points.length / CONTOUR_POINT_LIMIT))}); each cell's mean is of all of them.` : ""));
    // About one observation per cell on average, between 5 x 5 and MAX_BINS x MAX_BINS; an
    // integer of fewer values than that gets a bin per value (more bins would leave strips
    // between its values empty, as if nothing had been tried there).
    const bins = Math.max(5, Math.min(MAX_BINS, Math.floor(Math.sqrt(points.length))));
    const binsOf = (p) => (p.type === "int" && !C.isLog(p) ? Math.min(bins, p.bounds[1] - p.bounds[0] + 1) : bins);
    const [cx, cy] = [edges(px, binsOf(px)), edges(py, binsOf(py))];
    const rows = cy.length - 1;
    const sums = new Map();
    for (const o of points) {
      const key = binOf(cx, o.assignments[px.name]) * rows + binOf(cy, o.assignments[py.name]);
      const cell = sums.get(key) || [0, 0];
      cell[0] += ctx.valueOf(o, ctx.metric);
      cell[1] += 1;
      sums.set(key, cell);
    }
    const cells = [...sums].map(([key, [sum, n]]) => {
      const [i, j] = [Math.floor(key / rows), key % rows];
      return [cx[i], cx[i + 1], cy[j], cy[j + 1], sum / n, n];
    });
    const means = cells.map((cell) => cell[4]);
    const [low, high] = [Math.min(...means), Math.max(...means)];
    const [width, height] = [c.getWidth(), c.getHeight()];
    C.draw(c, {
      grid: { left: 65, right: 90, top: 20, bottom: 45 },
      xAxis: C.horizontal(C.paramAxis(px, { name: px.name, nameLocation: "middle", nameGap: 28, ...C.nameCut(width - 160) })),
      yAxis: C.paramAxis(py, { name: py.name, nameLocation: "middle", nameGap: 45, ...C.nameCut(height - 70) }),
      // The colour bar's ends are the lowest and highest cell means, written out.
      visualMap: { seriesIndex: 0, dimension: 4, min: low, max: high, right: 5, top: "middle",
        calculable: false, text: [fmt(high), fmt(low)], inRange: { color: C.valueColours(exp, ctx.metric) } },
      series: [
        { id: "cells", name: `mean ${ctx.metric}`, type: "custom", progressive: 0, encode: { x: [0, 1], y: [2, 3] },
          renderItem: (params, api) => {
            const p0 = api.coord([api.value(0), api.value(2)]);
            const p1 = api.coord([api.value(1), api.value(3)]);
            return { type: "rect", shape: { x: p0[0], y: p1[1], width: p1[0] - p0[0], height: p0[1] - p1[1] }, style: api.style() };
          },
          data: cells },
        { id: "points", name: "observations", type: "scatter", symbolSize: 3, large: true,
          itemStyle: { color: "#102a43", opacity: 0.5 },
          data: dots.map((o) => ({ value: [o.assignments[px.name], o.assignments[py.name]], id: o.id })) },
      ],
      tooltip: { formatter: (p) => (p.seriesId === "cells"
        ? tooltip(`${p.value[5]} observations`, [[`mean ${ctx.metric}`, p.value[4]]])
        : tooltip(`observation ${p.data.id}`, [[px.name, p.value[0]], [py.name, p.value[1]]])) },
    });
  }

  HonedViews.push({
    render(d, ctx) {
      renderSlices(d, ctx);
      renderEdf(d, ctx);
      renderCurves(d, ctx);
      renderHypervolume(d, ctx);
      renderContour(d, ctx);
    },
  });
})();

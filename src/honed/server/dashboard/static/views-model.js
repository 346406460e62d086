"use strict";
// Views of honed's own model, as the optimizer analysed its newest fit (GET .../model):
// parameter importance here, the prediction band in the slices (views-analysis.js).
// Nothing is computed in the browser; the page only says how the server computed it.
(() => {
  const { fmt, escapeHtml } = Honed;
  const C = HonedCharts;

  // Multitask: the analysis is of one task, the target (cost 1), and the notes say so.
  const atTask = (model) => (model && model.task ? ` at the target task ${model.task} (cost 1)` : "");

  // The analysis of the chosen metric, or null with the reason to show instead.
  function metricAnalysis(model, metric) {
    if (!model) return [null, "Loading the model analysis…"];
    if (model.status !== "ready") return [null, model.message];
    const found = model.analysis.metrics.find((m) => m.metric === metric);
    return found ? [found, null] : [null, `The model analysis covers the optimized metrics; ${metric} is not one.`];
  }

  function renderImportance(d, ctx) {
    const c = (ctx.charts.importance = C.chart("chart-importance"));
    const [analysis, reason] = metricAnalysis(ctx.model, ctx.metric);
    if (C.setEmpty("chart-importance", reason || "")) {
      C.note("importance-note", "");
      return;
    }
    const a = ctx.model.analysis;
    // Most important on top: category axes draw their first item at the bottom.
    const rows = [...analysis.importance].sort((p, q) => p.share - q.share);
    C.note("importance-note",
      `Each parameter's share of the variation of ${ctx.metric}${atTask(ctx.model)} that honed's model predicts over the ` +
      `whole search space: first-order Sobol indices of the Gaussian process's posterior mean ` +
      `(Saltelli's estimator on ${a.sample_points} × (parameters + 2) quasi-random points), normalised ` +
      `to sum to 1. Parameters alone explain ${Math.round(100 * Math.min(1, analysis.explained))}% of it; ` +
      `the rest is interactions (total-order indices in the tooltip). ${ctx.model.message}`);
    // Long parameter names are cut to under half of the chart.
    const names = Math.min(220, 0.4 * c.getWidth());
    C.draw(c, {
      grid: { left: names + 12, right: 20, top: 10, bottom: 45 },
      xAxis: C.horizontal(C.valueAxis({ min: 0, max: 1, name: "share", nameLocation: "middle", nameGap: 25 })),
      yAxis: C.labelled({ type: "category", data: rows.map((r) => r.parameter), ...C.NO_ZERO }, names),
      series: [{
        id: "importance", name: "importance", type: "bar", itemStyle: { color: C.metricColour(d.experiment, ctx.metric) },
        data: rows.map((r) => ({ value: r.share, name: r.parameter, first: r.first_order, total: r.total })),
      }],
      tooltip: { formatter: (p) => `<b>${escapeHtml(p.name)}</b><br>share: ${escapeHtml(fmt(p.value))}` +
        `<br>first-order index: ${escapeHtml(fmt(p.data.first))}<br>total-order index: ${escapeHtml(fmt(p.data.total))}` },
    });
  }

  HonedViews.push({ render: renderImportance });

  // For the slices: the band of one parameter as chart series data, or null.
  window.HonedModel = {
    metricAnalysis,
    atTask,
    slice(model, metric, parameter) {
      const [analysis] = metricAnalysis(model, metric);
      return analysis ? { anchor: analysis.anchor, ...analysis.slices.find((s) => s.parameter === parameter) } : null;
    },
  };
})();

"use strict";
// Chart plumbing shared by the experiment page's views (Apache ECharts does the drawing).
// - Updates merge into the chart (replaceMerge on series only), so what a user did to it
//   (a parallel-axis brush, legend toggles, a zoom) survives every refresh.
// - Axes follow the parameter: `transformation: log` draws a log axis, bounds bound it,
//   and no axis line is pinned to zero in the middle of a plot.
// - Each metric keeps one colour in every view.
const HonedCharts = (() => {
  // Orange and red are kept for "stopped early" and "failed".
  const PALETTE = ["#2f6fde", "#1e8e3e", "#a142f4", "#d01884", "#12b5cb", "#7f6000", "#5f6368"];
  const GREY = "#9aa5b1", RED = "#c62828", ORANGE = "#e8710a";
  const STATUS_COLOURS = { completed: "#2f6fde", failed: RED, early_stopped: ORANGE };
  const STATUS_LABELS = { completed: "completed", failed: "failed", early_stopped: "stopped early" };
  const instances = new Map(); // dom id -> chart, for resize

  function chart(id) {
    const node = document.getElementById(id);
    let c = echarts.getInstanceByDom(node);
    if (!c) {
      c = echarts.init(node, null, { renderer: "canvas" });
      instances.set(id, c);
      showWhole(c);
    }
    return c;
  }
  window.addEventListener("resize", () => {
    for (const c of instances.values()) {
      c.resize();
      fitLegend(c);
    }
  });

  // Long parameter names, categories and host names: a text longer than its place is cut
  // short with an ellipsis (`cut`, `nameCut`: widths in pixels of the chart as drawn), and
  // pointing at a cut axis name or label, or tapping it on a phone, shows it whole in a tip
  // (ECharts has no tooltip for axis labels). Axes send these events: NO_ZERO sets
  // triggerEvent.
  const ELLIPSIS = "…";
  const fit = (width) => Math.max(24, Math.floor(width));
  const cut = (width) => ({ width: fit(width), overflow: "truncate", ellipsis: ELLIPSIS });
  const nameCut = (width) => ({ nameTruncate: { maxWidth: fit(width), ellipsis: ELLIPSIS } });
  function showWhole(c) {
    const node = c.getDom();
    const tip = Honed.el("div", { class: "chart-tip", role: "tooltip", hidden: true });
    node.append(tip);
    const show = (e) => {
      const text = { axisName: e.name, axisLabel: e.value }[e.targetType];
      if (typeof text !== "string" || !text) return;
      tip.textContent = text;
      tip.hidden = false;
      // Beside the pointer, kept within the chart.
      const x = Math.min(e.event.offsetX + 12, Math.max(0, node.clientWidth - tip.offsetWidth));
      tip.style.left = `${x}px`;
      tip.style.top = `${Math.max(0, e.event.offsetY - tip.offsetHeight - 8)}px`;
    };
    const hide = () => { tip.hidden = true; };
    c.on("mouseover", show);
    c.on("click", show);
    c.on("mouseout", (e) => { if (e.targetType === "axisName" || e.targetType === "axisLabel") hide(); });
    c.on("globalout", hide);
  }

  // Merge, never replace: components keep their state; only the series list is replaced, so
  // a series that went away does not linger. `first` is applied once (toolboxes, zoom).
  function draw(c, option, first = {}) {
    // Drawn in one go: progressive rendering would show a large series half-drawn.
    for (const series of option.series || []) if (series.progressive === undefined) series.progressive = 0;
    // The plot stays below the legend's extra lines (fitLegend) through every redraw.
    if (option.grid && typeof option.grid.top === "number") {
      c.__honedGridTop = option.grid.top;
      option = { ...option, grid: { ...option.grid, top: option.grid.top + (c.__honedLegendExtra || 0) } };
    }
    if (!c.__honedDrawn) {
      c.setOption({ animation: false, ...first, ...option }, { notMerge: true });
      c.__honedDrawn = true;
    } else {
      c.setOption(option, { replaceMerge: ["series"] });
    }
    fitLegend(c);
  }

  // A legend that one line does not hold (a phone's) wraps onto more lines, every entry in
  // sight (a paged one hid them behind "1/2" arrows): the plot moves down by the lines
  // added and the chart grows by as much, so the plot keeps its height.
  function fitLegend(c) {
    const legend = c.getModel()?.getComponent("legend");
    if (!legend || typeof c.__honedGridTop !== "number" || !c.getDom().offsetParent) return;
    const rows = c.getViewOfComponentModel(legend).getContentGroup().children().map((item) => item.y);
    const extra = rows.length ? Math.max(...rows) - Math.min(...rows) : 0;
    if (extra === (c.__honedLegendExtra || 0)) return;
    c.__honedLegendExtra = extra;
    const node = c.getDom();
    node.style.height = "";
    if (extra) node.style.height = `${node.clientHeight + extra}px`;
    c.resize();
    c.setOption({ grid: { top: c.__honedGridTop + extra } });
  }

  const metricColour = (exp, name) => PALETTE[Math.max(0, exp.metrics.findIndex((m) => m.name === name)) % PALETTE.length];
  const isLog = (param) => param.transformation === "log";
  // No axis line pinned to zero mid-plot; labels that would overlap (a bound next to a
  // round tick, time labels on a narrow screen) are dropped rather than drawn on each other.
  // The line height is given: ECharts otherwise takes it from the width of a CJK glyph,
  // 4 px where no CJK font is installed, and then finds no overlap between labels 5 px apart.
  const NO_ZERO = { axisLine: { onZero: false }, triggerEvent: true, axisLabel: { hideOverlap: true, lineHeight: 14 } };

  // A horizontal axis whose first and last labels stay within its ends rather than centred
  // on them, where the chart's edge would cut them; `label`: more axisLabel settings.
  const horizontal = (axis, label = {}) => ({
    ...axis, axisLabel: { ...axis.axisLabel, alignMinLabel: "left", alignMaxLabel: "right", ...label },
  });
  // An axis whose labels are cut to `width` pixels.
  const labelled = (axis, width) => ({ ...axis, axisLabel: { ...axis.axisLabel, ...cut(width) } });

  // Colour scales of a metric's value: the best values always blue, the worst red, whether
  // the metric is maximized or minimized (red reads as bad).
  const WORST_TO_BEST = ["#d94e5d", "#eac736", "#50a3ba"];
  function valueColours(exp, name) {
    const metric = exp.metrics.find((m) => m.name === name);
    return metric && metric.objective === "minimize" ? [...WORST_TO_BEST].reverse() : WORST_TO_BEST;
  }

  // Legends sit on top; charts with one leave LEGEND_TOP for its first line and the axis
  // names, and draw() moves the plot down by any line it wraps onto, so a legend never runs
  // into the plot or an axis name. A long metric name is cut short in the legend, whose own
  // tooltip shows it whole.
  const LEGEND = { legend: { top: 0, textStyle: cut(180), tooltip: { show: true } } };
  const LEGEND_TOP = 52;

  // A numeric axis for a metric or anything without bounds: fitted to the data, not to 0.
  const valueAxis = (extra = {}) => ({ type: "value", scale: true, ...NO_ZERO, ...extra });

  // The axis of a parameter: categories, a log axis for log parameters, else its bounds.
  function paramAxis(param, extra = {}) {
    if (param.type === "categorical") return { type: "category", data: param.categories, ...NO_ZERO, ...extra };
    const [min, max] = param.bounds || [undefined, undefined];
    if (isLog(param)) return { type: "log", min, max, logBase: 10, ...NO_ZERO, ...extra };
    return { type: "value", min, max, ...NO_ZERO, ...extra };
  }

  // Empty charts say why instead of drawing bare axes.
  function setEmpty(id, message) {
    const node = document.getElementById(id);
    let note = node.parentElement.querySelector(":scope > .chart-empty");
    if (!note) {
      note = Honed.el("p", { class: "empty chart-empty" });
      node.after(note);
    }
    note.textContent = message || "";
    note.hidden = !message;
    node.hidden = Boolean(message);
    if (!message) {
      const c = echarts.getInstanceByDom(node);
      if (c) c.resize();
    }
    return Boolean(message);
  }

  // Large views draw at most `limit` items; the panel says so whenever it drops any.
  function note(id, text) {
    const node = document.getElementById(id);
    node.textContent = text || "";
    node.hidden = !text;
  }

  // 2 -> "2nd", 3 -> "3rd", 11 -> "11th", 22 -> "22nd": for "every nth" in the notes.
  function ordinal(n) {
    const suffix = n % 100 >= 11 && n % 100 <= 13 ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th";
    return `${n}${suffix}`;
  }

  // Every nth item plus the ones that must stay (the best, say), in the original order.
  function downsample(items, limit, keep = () => false) {
    if (items.length <= limit) return items;
    const stride = Math.ceil(items.length / limit);
    return items.filter((item, i) => i % stride === 0 || keep(item));
  }

  // Completed points of a metric: one series in the metric's colour; for a multitask
  // experiment one per task, as a cheaper task's result is a partial evaluation that must
  // not read as one of the target task's (in the slices and the best-so-far chart). The
  // target task (listed first) keeps the metric's colour, the cheaper ones take the
  // palette's others, named with their costs in a legend; a task without results keeps its
  // colour and entry, so the key stays put.
  function taskPoints(exp, metric, done) {
    const own = metricColour(exp, metric);
    if (!exp.tasks.length) return [{ id: "completed", name: metric, colour: own, observations: done }];
    const others = PALETTE.filter((colour) => colour !== own);
    return exp.tasks.map((t, i) => ({
      id: `task:${t.name}`, name: `${t.name} (cost ${Honed.fmt(t.cost)})`, colour: i === 0 ? own : others[(i - 1) % others.length],
      observations: done.filter((o) => o.task === t.name),
    }));
  }

  // The metric of the learning curves (intermediate values): the objective, the first
  // optimized metric (what the scheduler keeps and early stopping reads).
  function curveMetric(exp) {
    const objective = exp.metrics.find((m) => m.strategy === "optimize");
    if (objective) return objective.name;
    return exp.metrics.length === 1 ? exp.metrics[0].name : "intermediate value";
  }

  return {
    PALETTE, GREY, RED, ORANGE, STATUS_COLOURS, STATUS_LABELS,
    chart, draw, metricColour, valueColours, isLog, valueAxis, paramAxis, setEmpty, note, downsample, ordinal, NO_ZERO,
    curveMetric, taskPoints,
    cut, nameCut, horizontal, labelled,
    LEGEND, LEGEND_TOP,
  };
})();

// The experiment page's views (views-*.js) add themselves here: render(data, context) when
// the data changed, and tick(data, now) on every refresh for what depends on the clock.
const HonedViews = [];

"use strict";
// The trial timeline by worker: a row per worker (its `hostname`), a bar per trial from its
// start to its report, in lanes where a worker ran trials at once.
(() => {
  const { fmt, escapeHtml } = Honed;
  const C = HonedCharts;
  // ECharts spends about 20 µs per bar of a custom series whatever the bar: 30,000 trials
  // took over a second to draw. Past this many, bars that would touch on screen are joined.
  const TIMELINE_LIMIT = 5000;

  const tooltip = (title, rows) =>
    `<b>${escapeHtml(title)}</b><br>` + rows.map(([k, v]) => `${escapeHtml(k)}: ${escapeHtml(fmt(v))}`).join("<br>");

  // --- timeline: one row per worker, a bar per trial from start to report ------------------
  // Trials that overlap in time on one worker (a machine running several at once) get lanes
  // of its row, so none is drawn over another: value = [row, start, end, lane, lanes].
  function lanes(observations) {
    const lane = new Map();
    const count = new Map();
    const byHost = new Map();
    for (const o of observations) {
      if (!byHost.has(o.hostname)) byHost.set(o.hostname, []);
      byHost.get(o.hostname).push(o);
    }
    for (const [host, items] of byHost) {
      const free = []; // per lane: when its last trial ended
      for (const o of [...items].sort((a, b) => (a.started ?? a.ended) - (b.started ?? b.ended) || a.ended - b.ended)) {
        const start = o.started ?? o.ended;
        let i = free.findIndex((end) => end <= start);
        if (i < 0) i = free.push(0) - 1;
        free[i] = Math.max(o.ended, start);
        lane.set(o.id, i);
      }
      count.set(host, Math.max(1, free.length));
    }
    return [lane, count];
  }

  // A worker lane's bars of one status, joined where less than `gap` seconds apart: every
  // trial is inside a bar, and a bar of several says how many and which.
  function joined(bars, gap) {
    const runs = new Map();
    for (const bar of [...bars].sort((a, b) => a.value[1] - b.value[1])) {
      const key = `${bar.value[0]}:${bar.value[3]}`;
      const run = runs.get(key);
      if (run && bar.value[1] - run.at(-1).value[2] <= 1000 * gap) {
        const last = run.at(-1);
        last.value[2] = Math.max(last.value[2], bar.value[2]);
        last.count += 1;
        last.last = bar.id;
      } else {
        if (!run) runs.set(key, []);
        runs.get(key).push({ value: [...bar.value], id: bar.id, count: 1, last: bar.id });
      }
    }
    return [...runs.values()].flat();
  }

  function renderTimeline(d, ctx) {
    const c = (ctx.charts.timeline = C.chart("chart-timeline"));
    if (C.setEmpty("chart-timeline", d.observations.length ? "" : "No observations yet.")) {
      C.note("timeline-note", "");
      return;
    }
    const hosts = [...new Set(d.observations.map((o) => o.hostname))].sort(Honed.naturally);
    const row = new Map(hosts.map((h, i) => [h, i]));
    const [lane, laneCount] = lanes(d.observations);
    // The band's height is the same for every bar of a render: asked once (ECharts gives
    // each render a new `context`).
    const renderItem = (params, api) => {
      if (params.context.band === undefined) params.context.band = api.size([0, 1])[1] * 0.7;
      const band = params.context.band;
      const y = api.value(0);
      const count = api.value(4);
      const start = api.coord([api.value(1), y]);
      const end = api.coord([api.value(2), y]);
      const height = band / count;
      return {
        type: "rect",
        shape: {
          x: start[0], y: start[1] - band / 2 + api.value(3) * height,
          width: Math.max(2, end[0] - start[0]), height: Math.max(1, height - (count > 1 ? 1 : 0)),
        },
        // The series' colour, not api.style(): that computed a style per bar, half the
        // chart's time at 30,000 trials.
        style: styles[params.seriesIndex],
      };
    };
    // Padded so that trials reported at one moment still show as bars on a sane scale.
    let lo = Infinity, hi = -Infinity;
    for (const o of d.observations) {
      lo = Math.min(lo, o.started ?? o.ended);
      hi = Math.max(hi, o.ended);
    }
    const pad = Math.max(30, 0.03 * (hi - lo));
    // One pixel of the unzoomed chart, in seconds: bars closer than that touch on screen.
    const pixel = (hi - lo + 2 * pad) / Math.max(100, c.getWidth() - 110);
    const many = d.observations.length > TIMELINE_LIMIT;
    // One series per status that occurs, so the legend lists only those; series keep their
    // ids, so a status that appears later merges in and legend toggles survive refreshes.
    const statuses = Object.keys(C.STATUS_LABELS).filter((status) => d.observations.some((o) => o.status === status));
    const styles = statuses.map((status) => ({ fill: C.STATUS_COLOURS[status], opacity: 0.8 }));
    let bars = 0;
    const series = statuses.map((status) => {
      let data = d.observations.filter((o) => o.status === status).map((o) => ({
        value: [row.get(o.hostname), 1000 * (o.started ?? o.ended), 1000 * o.ended, lane.get(o.id), laneCount.get(o.hostname)],
        id: o.id,
      }));
      if (many) data = joined(data, pixel);
      bars += data.length;
      return {
        id: status, name: C.STATUS_LABELS[status], type: "custom", renderItem, progressive: 0,
        itemStyle: { color: C.STATUS_COLOURS[status], opacity: 0.8 },
        encode: { x: [1, 2], y: 0 },
        data,
      };
    });
    C.note("timeline-note", many
      ? `Joined: ${d.observations.length} trials drawn as ${bars} bars. A worker's trials of one status less than ` +
        `${Number(pixel.toPrecision(2))} s apart (a pixel of the whole span) share a bar, which says how many; zooming in does not split them.` : "");
    // Long host names are cut to under a third of the chart.
    const names = Math.min(180, 0.3 * c.getWidth());
    C.draw(c, {
      grid: { left: names + 12, right: 20, top: 35, bottom: 40 },
      xAxis: C.horizontal({ type: "time", min: 1000 * (lo - pad), max: 1000 * (hi + pad), ...C.NO_ZERO }),
      yAxis: C.labelled({ type: "category", data: hosts, ...C.NO_ZERO }, names),
      series,
      tooltip: { formatter: (p) => tooltip(p.data.count > 1
        ? `${p.data.count} trials, observations ${p.data.id} to ${p.data.last} (${p.seriesName})`
        : `observation ${p.data.id} (${p.seriesName})`, [
        ["worker", hosts[p.value[0]]], ["seconds", (p.value[2] - p.value[1]) / 1000]]) },
    }, {
      ...C.LEGEND,
      dataZoom: [{ type: "inside", xAxisIndex: 0, filterMode: "weakFilter" }],
    });
  }

  HonedViews.push({ render: renderTimeline });
})();

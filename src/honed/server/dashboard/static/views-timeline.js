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
    // Long host names are cut to under a third of the chart.
    const names = Math.min(180, 0.3 * c.getWidth());
    // One series per status that occurs, so the legend lists only those; series keep their
    // ids, so a status that appears later merges in and legend toggles survive refreshes.
    const statuses = Object.keys(C.STATUS_LABELS).filter((status) => d.observations.some((o) => o.status === status));
    const styles = statuses.map((status) => ({ fill: C.STATUS_COLOURS[status], opacity: 0.8 }));
    c.__honedTimeline = {
      ids: statuses,
      trials: statuses.map((status) => d.observations.filter((o) => o.status === status).map((o) => ({
        value: [row.get(o.hostname), 1000 * (o.started ?? o.ended), 1000 * o.ended, lane.get(o.id), laneCount.get(o.hostname)],
        id: o.id, count: 1, last: o.id,
      }))),
      min: 1000 * (lo - pad), max: 1000 * (hi + pad),
      // The plot's width in pixels (the grid's margins below).
      width: Math.max(100, c.getWidth() - names - 32),
    };
    if (!c.__honedFollowsZoom) followZoom(c);
    const data = inView(c);
    const series = statuses.map((status, i) => ({
      id: status, name: C.STATUS_LABELS[status], type: "custom", renderItem, progressive: 0,
      itemStyle: { color: C.STATUS_COLOURS[status], opacity: 0.8 },
      encode: { x: [1, 2], y: 0 },
      data: data[i],
    }));
    C.draw(c, {
      grid: { left: names + 12, right: 20, top: 35, bottom: 40 },
      xAxis: C.horizontal({ type: "time", min: c.__honedTimeline.min, max: c.__honedTimeline.max, ...C.NO_ZERO }),
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

  // The bars to draw, per series, for the window of the time axis in view (the dataZoom's):
  // every trial is in one. Past TIMELINE_LIMIT trials in view, a worker's trials of one
  // status that would touch on screen at this zoom share a bar; with fewer, each is a bar
  // of its own, so zooming in on joined bars splits them. Out of view, bars are joined at
  // the whole span's scale (ECharts still reads them), each side of the window apart: a
  // bar joined across the window would be drawn over the trials in it.
  function inView(c) {
    const t = c.__honedTimeline;
    const total = t.trials.reduce((n, trials) => n + trials.length, 0);
    if (total <= TIMELINE_LIMIT) {
      C.note("timeline-note", "");
      return t.trials;
    }
    // A new chart has no zoom yet: the whole span is in view.
    const [start, end] = c.__honedDrawn ? c.getModel().getComponent("dataZoom", 0).getPercentRange() : [0, 100];
    const [from, to] = [t.min + ((t.max - t.min) * start) / 100, t.min + ((t.max - t.min) * end) / 100];
    const parts = t.trials.map((trials) => {
      const [before, shown, after] = [[], [], []];
      for (const trial of trials) (trial.value[2] < from ? before : trial.value[1] > to ? after : shown).push(trial);
      return [before, shown, after];
    });
    const seen = parts.reduce((n, [, shown]) => n + shown.length, 0);
    const join = seen > TIMELINE_LIMIT;
    // A pixel at this zoom and of the whole span, in seconds: bars closer than that touch.
    const pixel = (to - from) / 1000 / t.width;
    const outside = (t.max - t.min) / 1000 / t.width;
    let drawn = 0;
    const data = parts.map(([before, shown, after]) => {
      const bars = join ? joined(shown, pixel) : shown;
      drawn += bars.length;
      return [...joined(before, outside), ...bars, ...joined(after, outside)];
    });
    const zoomed = start > 0 || end < 100;
    C.note("timeline-note", join
      ? `Joined: ${seen} trials${zoomed ? " in view" : ""} drawn as ${drawn} bars. A worker's trials of one status less than ` +
        `${Number(pixel.toPrecision(2))} s apart (a pixel at this zoom) share a bar, which says how many; zoom in to split them.`
      : `Zoomed in: each of the ${seen} trials in view is a bar of its own (${total} trials in all; past ` +
        `${TIMELINE_LIMIT} in view, a worker's trials that would touch on screen share a bar).`);
    return data;
  }

  // On every zoom or pan (user's or dispatched), the bars again for the new window: once a
  // frame, as a wheel sends many events, and outside ECharts' own handling of the event.
  function followZoom(c) {
    c.__honedFollowsZoom = true;
    let pending = false;
    c.on("datazoom", () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        const data = inView(c);
        c.setOption({ series: c.__honedTimeline.ids.map((id, i) => ({ id, data: data[i] })) });
      });
    });
  }

  HonedViews.push({ render: renderTimeline });
})();

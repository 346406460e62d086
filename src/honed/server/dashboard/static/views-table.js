"use strict";
// The observations table (filtered, sorted and paged in the browser), a row's full record,
// CSV/JSON downloads of the filtered rows, and the open suggestions and workers tables.
(() => {
  const { el, fmt, ago, duration, when } = Honed;
  const C = HonedCharts;
  const PAGE_SIZE = 20;
  const state = { sortKey: "id", sortDir: -1, page: 0, status: "", host: "", field: "", min: "", max: "" };
  let data = null;
  let rows = []; // the filtered, sorted rows: what the table shows and the downloads hold

  const valueOf = (obs, metric) => (metric in obs.values ? obs.values[metric] : null);
  const badge = (status) => el("span", { class: `badge ${status}` }, C.STATUS_LABELS[status] || status);

  function columns(exp) {
    return [
      { key: "id", label: "id", num: true, get: (o) => Number(o.id) },
      { key: "created", label: "reported", get: (o) => o.created, show: (o) => when(o.created) },
      { key: "status", label: "status", get: (o) => o.status, show: (o) => badge(o.status) },
      { key: "hostname", label: "hostname", get: (o) => o.hostname },
      { key: "source", label: "source", get: (o) => o.source },
      // Multitask: the task evaluated.
      ...(exp.tasks.length ? [{ key: "task", label: "task", get: (o) => o.task }] : []),
      ...exp.conditionals.map((c) => ({ key: "p:" + c.name, label: c.name,
        get: (o) => o.assignments[c.name] ?? null })),
      // A parameter that the conditionals' values leave inactive has no value: an empty cell.
      ...exp.parameters.map((p) => ({ key: "p:" + p.name, label: p.name, num: p.type !== "categorical",
        get: (o) => o.assignments[p.name] ?? null,
        show: (o) => (inactive(p, o) ? "" : fmt(o.assignments[p.name] ?? null)) })),
      ...exp.metrics.map((m) => ({ key: "m:" + m.name, label: m.name, num: true,
        get: (o) => valueOf(o, m.name), show: (o) => fmt(valueOf(o, m.name)) })),
    ];
  }

  const inactive = (p, o) => Object.keys(p.conditions).length > 0 && !(p.name in o.assignments);

  function compare(a, b) {
    if (a === b) return 0;
    if (a === null || a === undefined) return 1; // missing values sort last both ways
    if (b === null || b === undefined) return -1;
    return a < b ? -1 : 1;
  }

  // --- filters: status, hostname, and a range of one metric or numeric parameter --------
  function filterControls(d) {
    const exp = d.experiment;
    const fill = (id, options) => {
      const select = document.getElementById(id);
      const want = JSON.stringify(options);
      if (select.dataset.options !== want) {
        select.replaceChildren(...options.map(([value, label]) => el("option", { value }, label)));
        select.dataset.options = want;
      }
      return select;
    };
    const hosts = [...new Set(d.observations.map((o) => o.hostname))].sort(Honed.naturally);
    fill("filter-status", [["", "any status"], ...Object.entries(C.STATUS_LABELS)]).value = state.status;
    fill("filter-host", [["", "any hostname"], ...hosts.map((h) => [h, h])]).value = state.host;
    const fields = [...exp.metrics.map((m) => ["m:" + m.name, m.name]),
      ...exp.parameters.filter((p) => p.type !== "categorical").map((p) => ["p:" + p.name, p.name])];
    if (!state.field) state.field = fields[0][0];
    fill("filter-field", fields).value = state.field;
  }

  function bindFilters() {
    const on = (id, key, event = "change") => {
      document.getElementById(id).addEventListener(event, (e) => {
        state[key] = e.target.value;
        state.page = 0;
        renderTable();
      });
    };
    on("filter-status", "status");
    on("filter-host", "host");
    on("filter-field", "field");
    on("filter-min", "min", "input");
    on("filter-max", "max", "input");
    document.getElementById("prev-page").onclick = () => { state.page -= 1; renderTable(); };
    document.getElementById("next-page").onclick = () => { state.page += 1; renderTable(); };
    const downloading = (kind) => async (e) => {
      const button = e.currentTarget;
      button.disabled = true;
      try {
        await download(kind);
      } catch (error) {
        document.getElementById("page-info").textContent = `download failed: ${error.message}`;
      } finally {
        button.disabled = false;
      }
    };
    document.getElementById("download-csv").onclick = downloading("csv");
    document.getElementById("download-json").onclick = downloading("json");
    document.getElementById("details-close").onclick = () => document.getElementById("details").close();
  }

  function matches(o) {
    if (state.status && o.status !== state.status) return false;
    if (state.host && o.hostname !== state.host) return false;
    if (state.min === "" && state.max === "") return true;
    const [kind, name] = [state.field.slice(0, 1), state.field.slice(2)];
    const value = kind === "m" ? valueOf(o, name) : o.assignments[name] ?? null;
    if (typeof value !== "number") return false;
    if (state.min !== "" && value < Number(state.min)) return false;
    if (state.max !== "" && value > Number(state.max)) return false;
    return true;
  }

  function renderTable() {
    const d = data;
    const cols = columns(d.experiment);
    const table = document.getElementById("observations");
    table.tHead.replaceChildren(el("tr", {}, ...cols.map((c) => el("th", {
      class: ["sortable", c.num ? "num" : "", state.sortKey === c.key ? (state.sortDir > 0 ? "sorted-asc" : "sorted-desc") : ""].join(" "),
      "data-key": c.key,
      onclick: () => {
        state.sortDir = state.sortKey === c.key ? -state.sortDir : 1;
        state.sortKey = c.key;
        state.page = 0;
        renderTable();
      },
    }, c.label))));
    const col = cols.find((c) => c.key === state.sortKey) || cols[0];
    rows = d.observations.filter(matches).sort((a, b) => {
      const [x, y] = [col.get(a), col.get(b)];
      if (x === null || y === null) return compare(x, y);
      return state.sortDir * compare(x, y) || Number(a.id) - Number(b.id);
    });
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    state.page = Math.max(0, Math.min(state.page, pages - 1));
    const best = new Set(d.best_ids);
    table.tBodies[0].replaceChildren(...rows.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE).map((o) =>
      el("tr", { class: `${o.status} ${best.has(o.id) ? "best" : ""}`, "data-id": o.id, title: "Open the full observation", onclick: () => openDetails(o) },
        ...cols.map((c) => el("td", { class: c.num ? "num" : "" }, c.show ? c.show(o) : fmt(c.get(o)))))));
    const filtered = rows.length === d.observations.length ? "" : ` of ${d.observations.length}`;
    document.getElementById("page-info").textContent = `page ${state.page + 1} of ${pages} (${rows.length}${filtered} observations)`;
    document.getElementById("prev-page").disabled = state.page === 0;
    document.getElementById("next-page").disabled = state.page >= pages - 1;
  }

  // --- a row's full record ----------------------------------------------------------------
  function openDetails(o) {
    const dialog = document.getElementById("details");
    const pairs = (entries, id = null) => el("table", { class: "pairs", id }, el("tbody", {},
      ...entries.map(([k, v]) => el("tr", { "data-key": k }, el("th", {}, k), el("td", {}, v)))));
    const took = o.started !== null ? duration(Math.max(0, o.ended - o.started)) : "–";
    document.getElementById("details-title").replaceChildren(`Observation ${o.id} `, badge(o.status));
    document.getElementById("details-body").replaceChildren(
      pairs([
        ["status", C.STATUS_LABELS[o.status]],
        ...(o.reason ? [["reason", el("pre", { class: "reason" }, o.reason)]] : []),
        ["suggestion", o.suggestion ?? "none (reported without a suggestion)"],
        ["source", o.source ?? "–"],
        ...(o.task ? [["task", o.task]] : []),
        ["hostname", o.hostname],
        ["started", o.started !== null ? when(o.started) : "–"],
        ["reported", when(o.created)],
        ["duration", took],
      ]),
      el("h3", {}, "Assignments"), pairs(Object.entries(o.assignments).map(([k, v]) => [k, fmt(v)])),
      el("h3", {}, "Values"),
      Object.keys(o.values).length ? pairs(Object.entries(o.values).map(([k, v]) => [k, fmt(v)])) : el("p", { class: "muted" }, "none"),
      el("h3", {}, "Metadata"),
      Object.keys(o.metadata).length ? pairs(Object.entries(o.metadata).map(([k, v]) => [k, String(v)]), "details-metadata") : el("p", { class: "muted" }, "none"),
      el("h3", { id: "details-curve-heading" }, `Learning curve (${C.curveMetric(data.experiment)} by step)`),
      o.curve ? el("div", { class: "chart small", id: "details-curve" }) : el("p", { class: "muted", id: "details-no-curve" }, "none reported"),
    );
    dialog.dataset.id = o.id;
    dialog.showModal();
    if (o.curve) {
      const c = echarts.init(document.getElementById("details-curve"));
      window.honedCharts.detailsCurve = c;
      c.setOption({
        animation: false, grid: { left: 55, right: 15, top: 15, bottom: 30 },
        tooltip: { trigger: "axis" },
        xAxis: C.valueAxis({ name: "step", nameLocation: "middle", nameGap: 22 }),
        yAxis: C.valueAxis({ name: C.curveMetric(data.experiment) }),
        series: [{ type: "line", data: o.curve, itemStyle: { color: C.STATUS_COLOURS[o.status] } }],
      });
    }
  }
  document.getElementById("details").addEventListener("close", () => {
    const c = window.honedCharts.detailsCurve;
    if (c) c.dispose();
    window.honedCharts.detailsCurve = null;
  });

  // --- downloads of what the table shows: every filtered row, in the table's order --------
  // Each is the server's export, the file `honed export` writes, cut to the table's rows in
  // the table's order. A row reported after the table was drawn is in the export but not
  // the table, and the other way round (deleted since): the table's rows that the export has.
  // CSV: honed.domain.table's columns and times; its records by id.
  // JSON: the experiment and its observations as the v1 API returns them (honed.api.export);
  // the observations by id, cut from the text: parsed and written again, numbers would not
  // read as Python wrote them (1.0 would become 1).
  async function download(kind) {
    const exp = data.experiment;
    const type = kind === "json" ? "application/json" : "text/csv";
    const file = await Honed.api(`/dashboard/api/experiments/${exp.id}/observations.${kind}`, "GET", null, type, true);
    const [head, byId, tail] = kind === "json" ? jsonParts(file) : csvParts(file);
    const kept = rows.map((o) => byId.get(o.id)).filter((r) => r !== undefined);
    const blob = new Blob([head + tail(kept)], { type });
    const link = el("a", { href: URL.createObjectURL(blob), download: `experiment-${exp.id}-observations.${kind}` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  // A file as [what precedes the rows, its rows by id, rows => the rows and what follows].
  function csvParts(text) {
    const [head, ...records] = csvRecords(text);
    const byId = new Map(records.map((r) => [r.slice(0, r.indexOf(",")), r]));
    return [head + "\n", byId, (kept) => kept.map((r) => r + "\n").join("")];
  }

  // The layout honed.api.export fixes: "observations" is the last key; each observation
  // opens on a line "    {" and closes on the next line "    }", and its own keys (its
  // "id" among them) are the lines indented by exactly six spaces.
  function jsonParts(text) {
    const marker = '\n  "observations": [';
    const start = text.lastIndexOf(marker) + marker.length;
    const items = text.slice(start).match(/\n {4}\{[^]*?\n {4}\}/g) || [];
    const byId = new Map(items.map((item) => [/\n {6}"id": "(\d+)"/.exec(item)[1], item]));
    return [text.slice(0, start), byId, (kept) => (kept.length ? kept.join(",") + "\n  ]" : "]") + "\n}\n"];
  }

  // The records of CSV text, each without its "\n": a quoted field may hold newlines.
  function csvRecords(text) {
    const records = [];
    let start = 0;
    let quoted = false;
    for (let i = 0; i < text.length; i += 1) {
      if (text[i] === '"') quoted = !quoted;
      else if (text[i] === "\n" && !quoted) {
        records.push(text.slice(start, i));
        start = i + 1;
      }
    }
    if (start < text.length) records.push(text.slice(start));
    return records;
  }

  // --- open suggestions and workers: their ages follow the clock on every refresh ----------
  function simpleTable(id, emptyId, heads, body) {
    const table = document.getElementById(id);
    table.tHead.replaceChildren(el("tr", {}, ...heads.map((h) => el("th", {}, h))));
    table.tBodies[0].replaceChildren(...body);
    document.getElementById(emptyId).hidden = body.length > 0;
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

  function tick(d, now) {
    const multitask = d.experiment.tasks.length > 0;
    simpleTable("suggestions", "no-suggestions", ["id", "open for", "source", ...(multitask ? ["task"] : []), "model", "assignments"],
      d.open_suggestions.map((s) => el("tr", { "data-id": s.id },
        el("td", {}, s.id), el("td", { title: when(s.created) }, duration(Math.max(0, now - s.created))),
        el("td", {}, s.source), multitask ? el("td", {}, s.task ?? "") : null, modelCell(s.model),
        el("td", {}, Object.entries(s.assignments).map(([k, v]) => `${k}=${fmt(v)}`).join(", ")))));
    simpleTable("workers", "no-workers", ["hostname", "last report", "observations", "failures"],
      d.workers.map((w) => el("tr", { "data-hostname": w.hostname },
        el("td", {}, w.hostname, " ", w.silent ? el("span", { class: "badge silent" }, "silent") : null),
        el("td", { title: when(w.last_report) }, ago(now - w.last_report)),
        el("td", { class: "num" }, w.observations),
        el("td", { class: "num" }, w.failures ? el("span", { class: "badge failed" }, w.failures) : "0"))));
  }

  bindFilters();
  HonedViews.push({
    render(d) {
      data = d;
      filterControls(d);
      renderTable();
    },
    tick,
  });
})();

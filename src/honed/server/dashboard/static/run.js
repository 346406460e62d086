"use strict";
// One training run: its state and links, its tags, a gallery of its images (what the
// sigopt client's run.log_image uploaded), its other files, and every field it reported.
// Refreshed live; an image already shown is never loaded again.
(() => {
  const { el, fmt, when } = Honed;
  const runId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  Honed.header("");
  const shown = new Map(); // file id -> its <figure>, kept across refreshes
  let lastText = null;

  function renderHead(run) {
    document.title = `honed · ${run.name}`;
    document.getElementById("title").replaceChildren(run.name, " ", el("span", { class: "muted" }, `run #${run.id}`));
    const stat = (label, value, id) => el("div", { id }, el("b", {}, value), el("span", { class: "muted" }, label));
    const experiment = run.experiment
      ? el("a", { href: `/dashboard/experiments/${encodeURIComponent(run.experiment)}` }, `#${run.experiment}`)
      : "none";
    document.getElementById("stats").replaceChildren(
      stat("state", el("span", { class: `badge ${run.state}` }, run.state), "stat-state"),
      stat("experiment", experiment, "stat-experiment"),
      stat("project", run.project, "stat-project"),
      stat("created", when(run.created), "stat-created"),
      stat("checkpoints", String(run.checkpoint_count), "stat-checkpoints"),
    );
  }

  function renderTags(tags) {
    document.getElementById("tags").replaceChildren(...tags.map((t) =>
      el("span", { class: "tag", "data-id": t.id },
        el("span", { class: "swatch", style: `background:${t.color}` }), t.name)));
  }

  function renderFiles(files) {
    const images = files.filter((f) => f.image && f.uploaded);
    const gallery = document.getElementById("gallery");
    for (const file of images) {
      if (shown.has(file.id)) continue;
      const figure = el("figure", { "data-id": file.id },
        el("a", { href: file.url, target: "_blank", rel: "noopener" },
          el("img", { src: file.url, alt: file.title, loading: "lazy" })),
        el("figcaption", {}, file.title));
      shown.set(file.id, figure);
      gallery.append(figure);
    }
    document.getElementById("no-images").hidden = images.length > 0;
    const pending = files.filter((f) => !f.uploaded).length;
    const note = document.getElementById("pending-note");
    note.hidden = pending === 0;
    note.textContent = `${pending} file(s) declared whose upload has not arrived.`;
    const others = files.filter((f) => !f.image && f.uploaded);
    document.getElementById("other-files-panel").hidden = others.length === 0;
    document.getElementById("other-files").replaceChildren(...others.map((f) =>
      el("li", {}, el("a", { href: f.url }, f.title), el("span", { class: "muted" }, ` ${f.content_type}, ${f.content_length} bytes`))));
  }

  // Each reported field as a table of its entries (logs as text).
  function renderFields(run) {
    const pairs = (title, entries) => entries.length === 0 ? null : el("section", { class: "panel", "data-field": title },
      el("h2", {}, title),
      el("table", { class: "pairs" }, el("tbody", {}, ...entries.map(([k, v]) =>
        el("tr", {}, el("th", {}, k), el("td", {}, typeof v === "object" && v !== null ? JSON.stringify(v) : fmt(v)))))));
    const values = Object.values(run.values).map((v) => [v.name, v.value_stddev === null ? v.value : `${fmt(v.value)} ± ${fmt(v.value_stddev)}`]);
    const logs = Object.entries(run.logs).map(([stream, log]) => el("div", {}, el("h3", {}, stream), el("pre", { class: "reason" }, log.content ?? "")));
    const source = run.source_code.content || run.source_code.hash;
    document.getElementById("fields").replaceChildren(...[
      pairs("values", values),
      pairs("assignments", Object.entries(run.assignments)),
      pairs("metadata", Object.entries(run.metadata || {})),
      pairs("datasets", Object.keys(run.datasets).map((name) => [name, ""])),
      pairs("model", run.model.type ? [["type", run.model.type]] : []),
      pairs("dev metadata", Object.entries(run.dev_metadata)),
      pairs("sys metadata", Object.entries(run.sys_metadata)),
      logs.length ? el("section", { class: "panel", "data-field": "logs" }, el("h2", {}, "logs"), ...logs) : null,
      source ? el("section", { class: "panel", "data-field": "source code" }, el("h2", {}, "source code"),
        run.source_code.hash ? el("p", { class: "muted" }, `hash ${run.source_code.hash}`) : null,
        el("pre", { class: "reason" }, run.source_code.content ?? "")) : null,
    ].filter(Boolean));
  }

  async function load() {
    let data;
    try {
      data = await Honed.api(`/dashboard/api/training_runs/${encodeURIComponent(runId)}`);
    } catch (error) {
      const box = document.getElementById("error");
      box.hidden = false;
      box.textContent = error.status === 404 ? "No such training run." : error.message;
      return error.status === 404 ? false : undefined;
    }
    // Signed URLs change on every answer; redraw the fields only when the run did.
    const text = JSON.stringify([data.run, data.tags]);
    if (text !== lastText) {
      lastText = text;
      renderHead(data.run);
      renderTags(data.tags);
      renderFields(data.run);
    }
    renderFiles(data.files);
  }

  Honed.live(load);
})();

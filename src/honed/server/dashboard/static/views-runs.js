"use strict";
// The training runs of an AI experiment: newest first, with their state, values, tags and
// files; a row opens the run's page (its images). Reloaded whenever the experiment changes.
(() => {
  const { el, fmt, ago } = Honed;
  let loading = null;
  let queued = null; // the data of a change that came while a list was loading

  async function loadRuns(d) {
    const id = encodeURIComponent(d.experiment.id);
    const listed = await Honed.api(`/dashboard/api/experiments/${id}/runs`);
    const metrics = d.experiment.metrics.map((m) => m.name);
    const table = document.getElementById("runs");
    table.tHead.replaceChildren(el("tr", {},
      el("th", {}, "run"), el("th", {}, "name"), el("th", {}, "state"),
      ...metrics.map((m) => el("th", { class: "num" }, m)),
      el("th", {}, "tags"), el("th", { class: "num" }, "files"), el("th", {}, "created")));
    const now = d.now;
    table.tBodies[0].replaceChildren(...listed.runs.map((run) => el("tr", {
      "data-id": run.id,
      onclick: () => { location.href = `/dashboard/runs/${encodeURIComponent(run.id)}`; },
    },
    el("td", {}, el("a", { href: `/dashboard/runs/${encodeURIComponent(run.id)}` }, `#${run.id}`)),
    el("td", {}, run.name ?? "–"),
    el("td", {}, el("span", { class: `badge ${run.state}` }, run.state)),
    ...metrics.map((m) => el("td", { class: "num" }, fmt(run.values[m] ?? null))),
    el("td", {}, ...run.tags.map((t) => el("span", { class: "tag" }, el("span", { class: "swatch", style: `background:${t.color}` }), t.name))),
    el("td", { class: "num" }, String(run.files)),
    el("td", {}, ago(now - run.created)))));
    const more = listed.count - listed.runs.length;
    document.getElementById("runs-count").textContent = `(${listed.count}${more > 0 ? `, the newest ${listed.runs.length} shown` : ""})`;
    document.getElementById("no-runs").hidden = listed.count > 0;
  }

  function render(d) {
    const panel = document.getElementById("runs-panel");
    panel.hidden = !d.experiment.runs_only;
    if (panel.hidden) return;
    if (loading) {
      queued = d;
      return;
    }
    loading = loadRuns(d).catch((error) => {
      document.getElementById("runs-count").textContent = `(cannot list: ${error.message})`;
    }).finally(() => {
      loading = null;
      if (queued) {
        const next = queued;
        queued = null;
        render(next);
      }
    });
  }

  HonedViews.push({ render });
})();

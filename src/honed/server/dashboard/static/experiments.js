"use strict";
(() => {
  const { el, fmt, ago, when } = Honed;
  Honed.header("");
  const body = document.querySelector("#experiments tbody");

  // Against the budget: a multitask experiment spends its tasks' costs, not a count.
  function progress(e) {
    const multitask = e.tasks.length > 0;
    const used = multitask ? e.budget_consumed : e.observation_count;
    const shown = multitask ? fmt(used) : String(used);
    const label = e.budget ? `${shown} / ${e.budget}` : shown;
    if (!e.budget) return label;
    const pct = Math.min(100, (100 * used) / e.budget);
    return [label, el("span", { class: "progress" }, el("span", { style: `width:${pct}%` }))];
  }

  const paretoOf = (e) => e.metrics.filter((m) => m.strategy === "optimize").length === 2 && e.best_count > 0;

  async function load() {
    const data = await Honed.api("/dashboard/api/experiments");
    const now = Date.now() / 1000;
    body.replaceChildren(
      ...data.experiments.map((e) =>
        el("tr", { "data-id": e.id },
          el("td", {}, el("a", { href: `/dashboard/experiments/${encodeURIComponent(e.id)}` }, e.name),
            " ", el("span", { class: "muted" }, `#${e.id}`)),
          el("td", { "data-label": "state" }, e.state),
          el("td", { class: "num", "data-label": "observations" }, progress(e)),
          el("td", { class: "num", "data-label": "failed" }, e.failure_count),
          el("td", { class: "num best", "data-label": "best" }, paretoOf(e) ? `${e.best_count} Pareto points`
            : e.best_value === null ? "–" : [el("span", { class: "muted" }, `${e.best_metric} `), fmt(e.best_value)]),
          el("td", { title: when(e.last_activity), "data-label": "last activity" }, ago(now - e.last_activity)),
        ),
      ),
    );
    document.getElementById("no-experiments").hidden = data.experiments.length > 0;
  }

  Honed.live(load);
})();

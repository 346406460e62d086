// Every text drawn in the dashboard's charts (axis labels and names, legends, titles) as the
// canvas shows it, from ZRender's display list: a text cut by its chart's edge, or two that
// overlap, is a problem. Glyph boxes are 0.75 em tall about the line's middle (what digits
// and capitals fill); a legend item includes its symbol; a paged legend's hidden items and
// labels ECharts dropped (hideOverlap) are not drawn, so they do not count.
// Evaluated by tests/dashboard/browser.py's label_problems(); returns the problems in words.
() => {
  const problems = [];
  const charts = [];
  for (const [k, v] of Object.entries(window.honedCharts)) {
    if (k === "scatter") for (const [n, c] of Object.entries(v)) charts.push(["scatter." + n, c]);
    else if (v && v.getZr) charts.push([k, v]);
  }
  for (const [name, c] of charts) {
    if (c.getDom().offsetParent === null) continue; // hidden
    const zr = c.getZr();
    const [w, h] = [zr.getWidth(), zr.getHeight()];
    const boxes = [];
    // A legend item is its symbol (itemWidth 25 + gap 5) and its text.
    const legends = (c.getModel().findComponents({ mainType: "legend" }) || [])
      .map((m) => c.getViewOfComponentModel(m).group);
    const inLegend = (el) => {
      for (let p = el.parent; p; p = p.parent) if (legends.includes(p)) return true;
      return false;
    };
    for (const el of zr.storage.getDisplayList(true)) {
      if (el.type !== "tspan") continue;
      const s = el.style || {};
      if (!s.text || el.invisible || el.ignore || (s.opacity ?? 1) === 0) continue;
      const size = s.fontSize || 12;
      const r = el.getBoundingRect().clone();
      // Glyphs (digits, capitals) are about 0.75 em tall around the line's middle.
      const middle = { top: size / 2, middle: 0, bottom: -size / 2 }[s.textBaseline]
        ?? -0.35 * size;
      r.y = (s.y || 0) + middle - 0.375 * size;
      r.height = 0.75 * size;
      r.applyTransform(el.getComputedTransform());
      // Clipped (a paged legend's hidden items): only what shows inside the clip counts.
      let hidden = false;
      for (const clip of el.__clipPaths || []) {
        const area = clip.getBoundingRect().clone();
        area.applyTransform(clip.getComputedTransform());
        if (!area.contain(r.x + r.width / 2, r.y + r.height / 2)) hidden = true;
      }
      if (hidden) continue;
      if (inLegend(el)) { r.x -= 30; r.width += 30; }
      boxes.push([String(s.text), r]);
    }
    for (const [text, r] of boxes) {
      if (r.x < -1 || r.y < -1 || r.x + r.width > w + 1 || r.y + r.height > h + 1)
        problems.push(`${name}: "${text}" is cut by the chart's edge`);
    }
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const [[a, p], [b, q]] = [boxes[i], boxes[j]];
      const dx = Math.min(p.x + p.width, q.x + q.width) - Math.max(p.x, q.x);
      const dy = Math.min(p.y + p.height, q.y + q.height) - Math.max(p.y, q.y);
      if (dx > 1 && dy > 1) problems.push(`${name}: "${a}" overlaps "${b}"`);
    }
  }
  return problems;
}

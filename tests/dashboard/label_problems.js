// Every text drawn in the dashboard's charts (axis labels and names, legends, titles) as the
// canvas shows it, from ZRender's display list: a text cut by its chart's edge, or two that
// overlap, is a problem. Glyph boxes are 0.75 em tall about the line's middle (what digits
// and capitals fill), slanted with a slanted label; a legend item includes its symbol; a
// paged legend's hidden items and labels ECharts dropped (hideOverlap) are not drawn, so
// they do not count.
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
      const local = el.getBoundingRect().clone();
      // Glyphs (digits, capitals) are about 0.75 em tall around the line's middle.
      const middle = { top: size / 2, middle: 0, bottom: -size / 2 }[s.textBaseline]
        ?? -0.35 * size;
      local.y = (s.y || 0) + middle - 0.375 * size;
      local.height = 0.75 * size;
      // The glyphs' corners on the canvas: a slanted label's box is slanted too.
      const m = el.getComputedTransform() || [1, 0, 0, 1, 0, 0];
      const corners = [[local.x, local.y], [local.x + local.width, local.y],
        [local.x + local.width, local.y + local.height], [local.x, local.y + local.height]]
        .map(([x, y]) => [m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]]);
      const r = local.clone();
      r.applyTransform(m);
      // Clipped (a paged legend's hidden items): only what shows inside the clip counts.
      let hidden = false;
      for (const clip of el.__clipPaths || []) {
        const area = clip.getBoundingRect().clone();
        area.applyTransform(clip.getComputedTransform());
        if (!area.contain(r.x + r.width / 2, r.y + r.height / 2)) hidden = true;
      }
      if (hidden) continue;
      if (inLegend(el)) {
        r.x -= 30; r.width += 30;
        corners[0][0] -= 30; corners[3][0] -= 30;
      }
      boxes.push([String(s.text), r, corners]);
    }
    for (const [text, r] of boxes) {
      if (r.x < -1 || r.y < -1 || r.x + r.width > w + 1 || r.y + r.height > h + 1)
        problems.push(`${name}: "${text}" is cut by the chart's edge`);
    }
    // Two boxes overlap when no side of either separates them (by more than a pixel's
    // tolerance): for upright boxes, that is overlapping in x and in y.
    const depth = (p, q, [ax, ay]) => {
      const length = Math.hypot(ax, ay);
      const along = (points) => points.map(([x, y]) => (x * ax + y * ay) / length);
      return Math.min(Math.max(...along(p)), Math.max(...along(q)))
        - Math.max(Math.min(...along(p)), Math.min(...along(q)));
    };
    const sides = (points) => points.map(([x, y], k) => {
      const [nx, ny] = points[(k + 1) % points.length];
      return [ny - y, x - nx];
    });
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const [[a, , p], [b, , q]] = [boxes[i], boxes[j]];
      const axes = [...sides(p), ...sides(q)].filter(([x, y]) => Math.hypot(x, y) > 1e-9);
      if (axes.every((axis) => depth(p, q, axis) > 1)) problems.push(`${name}: "${a}" overlaps "${b}"`);
    }
  }
  return problems;
}

// The texts a chart's legend shows, as the canvas draws them inside the chart: a paged
// legend's pager ("1/2") is one, entries it pages out of sight (clipped) are not.
// Evaluated by tests/dashboard/browser.py's legend_texts() with the chart.
(c) => {
  const group = c.getViewOfComponentModel(c.getModel().getComponent("legend")).group;
  const within = (el) => {
    for (let p = el.parent; p; p = p.parent) if (p === group) return true;
    return false;
  };
  const out = [];
  for (const el of c.getZr().storage.getDisplayList(true)) {
    if (el.type !== "tspan" || !el.style.text || el.invisible || el.ignore || !within(el)) continue;
    const r = el.getBoundingRect().clone();
    r.applyTransform(el.getComputedTransform());
    const [x, y] = [r.x + r.width / 2, r.y + r.height / 2];
    const shown = (el.__clipPaths || []).every((clip) => {
      const area = clip.getBoundingRect().clone();
      area.applyTransform(clip.getComputedTransform());
      return area.contain(x, y);
    });
    if (shown && r.x >= 0 && r.x + r.width <= c.getWidth()) out.push(el.style.text);
  }
  return out;
}

"""A WCAG 2 contrast check that runs in the page: no npm package, only computed styles.

Every visible element with text of its own (and every input with a value) is measured: its
text colour against the background it is drawn on, found by walking up its ancestors and
compositing their background colours and gradient stops (a gradient is judged by its worst
stop). Normal text needs 4.5:1, large text (24 px, or 18.66 px bold) 3:1. Disabled controls
are exempt (WCAG 1.4.3), and so is what is hidden from assistive technology and decorative
(the bullet screen, floating hearts).
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

CHECK = r"""() => {
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c || "");
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const channel = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = (c) => 0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2]);
  const ratio = (a, b) => {
    const x = lum(a), y = lum(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  };
  const over = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat(1);
  // Only the lightest and the darkest candidate matter: the worst contrast is with one of them.
  const extremes = (list) => {
    const sorted = list.slice().sort((a, b) => lum(a) - lum(b));
    return sorted.length > 1 ? [sorted[0], sorted[sorted.length - 1]] : sorted;
  };
  const backgrounds = (node) => {
    const chain = [];
    for (let n = node; n; n = n.parentElement) chain.push(n);
    let under = [[255, 255, 255, 1]];
    for (const n of chain.reverse()) {
      const cs = getComputedStyle(n);
      const color = parse(cs.backgroundColor);
      const stops = (cs.backgroundImage.match(/rgba?\([^)]+\)/g) || []).map(parse);
      if (color && color[3] > 0) under = under.map((u) => over(color, u));
      if (stops.length) under = extremes(under.flatMap((u) => stops.map((s) => over(s, u))));
    }
    return under;
  };
  const opacity = (node) => {
    let o = 1;
    for (let n = node; n; n = n.parentElement) o *= Number(getComputedStyle(n).opacity);
    return o;
  };
  const problems = [];
  for (const node of document.querySelectorAll("body *")) {
    if (node.closest("[aria-hidden=true], script, style, svg, option")) continue;
    if (node.matches(":disabled") || node.closest(":disabled")) continue;
    const own = node.matches("input") ? node.value
      : [...node.childNodes].filter((c) => c.nodeType === 3).map((c) => c.textContent).join("");
    if (!own.trim()) continue;
    if (!node.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    const rect = node.getBoundingClientRect();
    if (rect.width < 1 || rect.height < 1 || rect.bottom < 0 || rect.top > innerHeight) continue;
    const cs = getComputedStyle(node);
    const fg = parse(cs.color);
    fg[3] *= opacity(node);
    const size = parseFloat(cs.fontSize), weight = Number(cs.fontWeight) || 400;
    const large = size >= 24 || (size >= 18.66 && weight >= 700);
    const need = large ? 3 : 4.5;
    let worst = Infinity, against = null;
    for (const bg of backgrounds(node)) {
      const r = ratio(over(fg, bg), bg);
      if (r < worst) { worst = r; against = bg; }
    }
    if (worst < need) {
      const id = node.id ? `#${node.id}` : "";
      const names = typeof node.className === "string" ? node.className.trim().split(/\s+/) : [];
      const cls = names.filter(Boolean).map((n) => `.${n}`).join("");
      problems.push({ element: `${node.tagName.toLowerCase()}${id}${cls}`, text: own.trim().slice(0, 40),
        ratio: Math.round(worst * 100) / 100, need, color: cs.color,
        background: `rgb(${against.slice(0, 3).map(Math.round).join(", ")})` });
    }
  }
  return problems;
}"""


# Colours and opacity mid-animation (a card popping in, a result fading in) are not what a reader
# sees: the check waits for every animation that ends (not the endless ones: a pulsing badge).
SETTLE = """() => Promise.all(document.getAnimations()
  .filter((a) => a.effect && Number.isFinite(a.effect.getComputedTiming().endTime))
  .map((a) => a.finished.catch(() => null)))"""


def low_contrast(page: Page) -> list[dict[str, Any]]:
    """Every visible text on the page whose contrast is under WCAG AA (empty when all pass)."""
    page.evaluate(SETTLE)
    return list(page.evaluate(CHECK))

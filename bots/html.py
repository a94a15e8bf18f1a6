"""A self-contained HTML report: inline SVG charts drawn from the report, the report's JSON embedded.

No scripts, no fonts, no CDN: the file opens on a machine with no network and
can be attached to a CI run as it is.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import orjson

from bots.report import summary_rows

W, H = 760, 260
PAD_L, PAD_R, PAD_T, PAD_B = 60, 20, 20, 40
COLORS = {"p50": "#2b8a3e", "p90": "#e67700", "p99": "#c92a2a", "max": "#868e96"}

Point = tuple[float, float]


def _nice_max(value: float) -> float:
    """A round axis top at or above ``value``."""
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _fmt(v: float) -> str:
    return f"{v:g}" if v < 10_000 else f"{v / 1000:g}k"


def line_chart(
    title: str,
    series: Sequence[tuple[str, str, Sequence[Point]]],
    *,
    x_label: str,
    y_label: str,
    marks: Sequence[tuple[float, str]] = (),
    x_max: float | None = None,
) -> str:
    """An SVG line chart; ``series`` is (name, colour, points); ``marks`` are labelled vertical lines."""
    xs = [x for _n, _c, pts in series for x, _y in pts]
    ys = [y for _n, _c, pts in series for _x, y in pts]
    x1 = x_max if x_max is not None else max(xs, default=1.0)
    x1 = max(x1, 1.0)
    y1 = _nice_max(max(ys, default=1.0) * 1.05)
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def sx(x: float) -> float:
        return PAD_L + pw * x / x1

    def sy(y: float) -> float:
        return PAD_T + ph * (1 - y / y1)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img">']
    parts.append(f"<title>{html.escape(title)}</title>")
    for i in range(6):
        y = y1 * i / 5
        parts.append(
            f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" class="grid"/>'
            f'<text x="{PAD_L - 6}" y="{sy(y) + 4:.1f}" class="tick" text-anchor="end">{_fmt(y)}</text>'
        )
    for i in range(11):
        x = x1 * i / 10
        parts.append(
            f'<text x="{sx(x):.1f}" y="{H - PAD_B + 16}" class="tick" text-anchor="middle">{x:.0f}</text>'
        )
    for x, label in marks:
        if 0 <= x <= x1:
            parts.append(
                f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{PAD_T}" y2="{H - PAD_B}" class="mark"/>'
                f'<text x="{sx(x) + 3:.1f}" y="{PAD_T + 10}" class="marklabel">{html.escape(label)}</text>'
            )
    for name, color, pts in series:
        if not pts:
            continue
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.8">'
            f"<title>{html.escape(name)}</title></polyline>"
        )
    legend_x = PAD_L + 8
    for name, color, _pts in series:
        parts.append(
            f'<rect x="{legend_x}" y="{PAD_T + 4}" width="10" height="10" fill="{color}"/>'
            f'<text x="{legend_x + 14}" y="{PAD_T + 13}" class="legend">{html.escape(name)}</text>'
        )
        legend_x += 14 + 8 * len(name) + 16
    parts.append(
        f'<text x="{PAD_L + pw / 2:.0f}" y="{H - 6}" class="axis" text-anchor="middle">'
        f"{html.escape(x_label)}</text>"
        f'<text x="14" y="{PAD_T + ph / 2:.0f}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 14 {PAD_T + ph / 2:.0f})">{html.escape(y_label)}</text>'
    )
    parts.append(f'<rect x="{PAD_L}" y="{PAD_T}" width="{pw}" height="{ph}" class="frame"/>')
    parts.append("</svg>")
    return "".join(parts)


def histogram_chart(title: str, bins: Sequence[dict[str, Any]]) -> str:
    """Bars of a latency histogram on a log time axis (bins from ``report.histogram_bins``)."""
    if not bins:
        return f'<p class="empty">{html.escape(title)}: no samples</p>'
    lo = math.log10(max(bins[0]["low_ms"], 1e-4))
    hi = math.log10(max(bins[-1]["high_ms"], bins[0]["low_ms"] * 10))
    top = _nice_max(max(b["count"] for b in bins) * 1.05)
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def sx(ms: float) -> float:
        return PAD_L + pw * (math.log10(max(ms, 1e-4)) - lo) / max(hi - lo, 1e-9)

    def sy(n: float) -> float:
        return PAD_T + ph * (1 - n / top)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img">']
    parts.append(f"<title>{html.escape(title)}</title>")
    for i in range(6):
        n = top * i / 5
        parts.append(
            f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{sy(n):.1f}" y2="{sy(n):.1f}" class="grid"/>'
            f'<text x="{PAD_L - 6}" y="{sy(n) + 4:.1f}" class="tick" text-anchor="end">{_fmt(n)}</text>'
        )
    decade = math.floor(lo)
    while decade <= math.ceil(hi):
        for m in (1, 2, 5):
            ms = m * 10**decade
            if lo <= math.log10(ms) <= hi:
                parts.append(
                    f'<text x="{sx(ms):.1f}" y="{H - PAD_B + 16}" class="tick" '
                    f'text-anchor="middle">{ms:g}</text>'
                    f'<line x1="{sx(ms):.1f}" x2="{sx(ms):.1f}" y1="{H - PAD_B}" '
                    f'y2="{H - PAD_B + 4}" class="grid"/>'
                )
        decade += 1
    for b in bins:
        x0, x1 = sx(b["low_ms"]), sx(b["high_ms"])
        y = sy(b["count"])
        parts.append(
            f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" height="{H - PAD_B - y:.1f}" '
            f'fill="#1c7ed6"><title>{b["low_ms"]:g}-{b["high_ms"]:g} ms: {b["count"]}</title></rect>'
        )
    parts.append(
        f'<text x="{PAD_L + pw / 2:.0f}" y="{H - 6}" class="axis" text-anchor="middle">'
        "delivery latency, ms (log)</text>"
        f'<text x="14" y="{PAD_T + ph / 2:.0f}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 14 {PAD_T + ph / 2:.0f})">deliveries</text>'
    )
    parts.append(f'<rect x="{PAD_L}" y="{PAD_T}" width="{pw}" height="{ph}" class="frame"/>')
    parts.append("</svg>")
    return "".join(parts)


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#212529;max-width:820px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse}td{padding:2px 10px;border-bottom:1px solid #eee;vertical-align:top}
td.sec{color:#868e96}.pass{color:#2b8a3e;font-weight:bold}.fail{color:#c92a2a;font-weight:bold}
.warn{color:#e67700}svg{width:100%;height:auto;background:#fff}
.grid{stroke:#e9ecef;stroke-width:1}.frame{fill:none;stroke:#adb5bd}
.tick{font-size:10px;fill:#495057}.axis{font-size:11px;fill:#495057}.legend{font-size:11px;fill:#212529}
.mark{stroke:#7048e8;stroke-dasharray:4 3}.marklabel{font-size:10px;fill:#7048e8}
"""


def render_html(report: dict[str, Any]) -> str:
    """The whole report page."""
    rows = report.get("timeline", [])
    lat_series = []
    for key in ("p50", "p90", "p99", "max"):
        pts = [(r["t"], r[f"{key}_ms"]) for r in rows if r.get(f"{key}_ms") is not None]
        lat_series.append((f"{key} ms", COLORS[key], pts))
    x_max = float(rows[-1]["t"] + 1) if rows else 1.0
    marks = [(float(e["t_s"]), str(e["what"])) for e in report.get("events", []) if "t_s" in e]
    conn_series = [
        ("open connections", "#1c7ed6", [(r["t"], r.get("open", 0)) for r in rows]),
        ("connects/s", "#2b8a3e", [(r["t"], r.get("connects", 0)) for r in rows]),
        ("failed attempts/s", "#e67700", [(r["t"], r.get("connect_failures", 0)) for r in rows]),
        ("disconnects/s", "#c92a2a", [(r["t"], r.get("disconnects", 0)) for r in rows]),
    ]
    rate_series = [
        ("deliveries/s", "#1c7ed6", [(r["t"], r.get("deliveries", 0)) for r in rows]),
        ("frames/s", "#868e96", [(r["t"], r.get("frames", 0)) for r in rows]),
    ]
    verdict = report["verdict"]
    if verdict["exit_code"] == 0:
        banner = '<p class="pass">PASS: every correctness check held</p>'
    elif verdict["exit_code"] == 1:
        banner = "".join(
            f'<p class="fail">FAIL {html.escape(f["check"])}: {f["count"]} {html.escape(f["what"])}</p>'
            for f in verdict["failures"]
        )
    else:
        banner = "".join(
            f'<p class="fail">COULD NOT RUN: {html.escape(reason)}</p>' for reason in verdict["could_not_run"]
        )
    warnings = "".join(f'<p class="warn">warning: {html.escape(w)}</p>' for w in verdict["warnings"])
    table_rows = []
    section = None
    for sec, metric, value in summary_rows(report):
        table_rows.append(
            f'<tr><td class="sec">{html.escape(sec) if sec != section else ""}</td>'
            f"<td>{html.escape(metric)}</td><td>{html.escape(value)}</td></tr>"
        )
        section = sec
    data = orjson.dumps(report).decode().replace("</", "<\\/")
    meta = report.get("meta", {})
    title = f"live bots: {report['scenario']} on {meta.get('room', '')}"
    return "".join(
        [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            f"<p>{html.escape(str(meta.get('started_at', '')))} · "
            f"{html.escape(str(meta.get('url', '')))}</p>",
            banner,
            warnings,
            "<h2>Chat delivery latency over time</h2>",
            line_chart(
                "delivery latency per second",
                lat_series,
                x_label="seconds",
                y_label="ms",
                marks=marks,
                x_max=x_max,
            ),
            "<h2>Delivery latency histogram</h2>",
            histogram_chart("delivery latency histogram", report.get("latency_histogram", [])),
            "<h2>Connections over time</h2>",
            line_chart(
                "connections", conn_series, x_label="seconds", y_label="connections", marks=marks, x_max=x_max
            ),
            "<h2>Throughput</h2>",
            line_chart(
                "throughput", rate_series, x_label="seconds", y_label="per second", marks=marks, x_max=x_max
            ),
            "<h2>Summary</h2><table>",
            *table_rows,
            "</table>",
            f'<script type="application/json" id="report">{data}</script>',
            "</body></html>",
        ]
    )

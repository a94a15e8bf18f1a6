"""bots.html: one self-contained file, charts as inline SVG, the report's JSON inside."""

from __future__ import annotations

import re

import orjson

from bots.checks import SaleLedger
from bots.html import histogram_chart, line_chart, render_html
from bots.plan import make_plan
from bots.report import build_report
from bots.stats import Stats


def sample_report() -> dict:  # type: ignore[type-arg]
    stats = Stats()
    stats.count("connected", 3)
    for sec in range(6):
        second = stats.second(sec)
        second.open = 3
        for us in (1500, 2500, 40_000 + sec * 1000):
            second.latency.record(us)
            second.counts["deliveries"] += 1
    stats.closes["1006"] = 1
    plan = make_plan("chat", viewers=3, rate=1, duration_s=4, ramp_s=1, procs=1)
    return build_report(
        plan=plan,
        stats=stats,
        ledger=SaleLedger(),
        meta={"room": "r</script><b>", "wall_s": 6},
        events=[{"t_s": 2.0, "what": "pin"}],
    )


def test_the_page_needs_nothing_from_the_network() -> None:
    page = render_html(sample_report())
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") == 4
    assert "<script src" not in page and "<link" not in page
    assert not re.search(r"(src|href)=['\"]?https?:", page)


def test_the_embedded_json_is_the_report() -> None:
    report = sample_report()
    page = render_html(report)
    match = re.search(r'<script type="application/json" id="report">(.*?)</script>', page, re.S)
    assert match
    assert orjson.loads(match.group(1).replace("<\\/", "</")) == orjson.loads(orjson.dumps(report))


def test_text_is_escaped() -> None:
    page = render_html(sample_report())
    assert "<b>" not in page.split('<script type="application/json"')[0]


def test_charts_draw_their_series_and_marks() -> None:
    svg = line_chart(
        "t", [("p50", "#000", [(0, 1.0), (1, 2.0)])], x_label="s", y_label="ms", marks=[(0.5, "pin")]
    )
    assert "<polyline" in svg and "pin" in svg
    assert "no samples" in histogram_chart("h", [])

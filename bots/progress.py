"""The live view while a run goes: a rich Live panel on a terminal, a plain line now and then
elsewhere (CI logs), nothing with ``--quiet``."""

from __future__ import annotations

import sys
import time
from typing import Any

PLAIN_EVERY_S = 5.0


def _lat(last: dict[str, Any] | None) -> str:
    if not last or last.get("p50_ms") is None:
        return "-"
    return f"p50 {last['p50_ms']} / p99 {last['p99_ms']} / max {last['max_ms']} ms"


class NullView:
    def start(self, state: Any) -> None:
        pass

    def update(self, snap: dict[str, Any]) -> None:
        pass

    def stop(self) -> None:
        pass


class PlainView(NullView):
    """One line to stderr every few seconds."""

    def __init__(self) -> None:
        self._next = 0.0

    def update(self, snap: dict[str, Any]) -> None:
        now = time.time()
        if now < self._next:
            return
        self._next = now + PLAIN_EVERY_S
        last = snap.get("last") or {}
        totals = snap["totals"]
        print(
            f"[bots {snap['elapsed']:6.1f}s {snap['phase']:<7}] open {snap['open']}/{snap['target']}"
            f"  deliveries/s {last.get('deliveries', '-')}  latency {_lat(last)}"
            f"  posts {totals.get('chat_sent', 0)}  units {totals.get('units_acked', 0)}"
            f"  errors {sum(snap['errors'].values())}  missing seq {snap['seq_missing']}",
            file=sys.stderr,
            flush=True,
        )


class RichView(NullView):
    """A panel redrawn twice a second."""

    def __init__(self, title: str) -> None:
        from rich.console import Console
        from rich.live import Live

        self.title = title
        self.console = Console(stderr=True)
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)

    def start(self, state: Any) -> None:
        self.live.start()

    def update(self, snap: dict[str, Any]) -> None:
        self.live.update(self.render(snap))

    def stop(self) -> None:
        self.live.stop()

    def render(self, snap: dict[str, Any]) -> Any:
        from rich.panel import Panel
        from rich.table import Table

        last = snap.get("last") or {}
        totals = snap["totals"]
        table = Table.grid(padding=(0, 2))
        table.add_column(style="dim")
        table.add_column()
        table.add_row("phase", f"{snap['phase']}  {snap['elapsed']:.1f} s")
        table.add_row("viewers", f"{snap['open']} / {snap['target']} connected")
        table.add_row(
            "connections",
            f"{totals.get('connects', 0)} hellos, {totals.get('disconnects', 0)} dropped, "
            f"{totals.get('connect_failures', 0)} failed attempts",
        )
        table.add_row(
            "last second", f"{last.get('deliveries', '-')} deliveries, {last.get('frames', '-')} frames"
        )
        table.add_row("delivery latency", _lat(last))
        table.add_row("chat", f"{totals.get('chat_sent', 0)} sent, {totals.get('chat_acked', 0)} acked")
        if snap.get("pin") or totals.get("buys_sent"):
            table.add_row(
                "sales",
                f"pin {snap.get('pin') or '-'}: {totals.get('buys_sent', 0)} buys, "
                f"{totals.get('units_acked', 0)} units acked",
            )
        if totals.get("bids_sent"):
            table.add_row("auction", f"{totals['bids_sent']} bids, {totals.get('bids_acked', 0)} accepted")
        errors = snap["errors"]
        table.add_row("errors", ", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "none")
        missing = snap["seq_missing"]
        table.add_row("missing seq", f"[red]{missing}[/]" if missing else "0")
        for note in snap.get("notes", []):
            table.add_row("", f"[magenta]{note}[/]")
        return Panel(table, title=self.title, expand=False)


def make_view(title: str, quiet: bool) -> NullView:
    if quiet:
        return NullView()
    if sys.stderr.isatty():
        return RichView(title)
    return PlainView()

"""Process-local counters, rendered in Prometheus text format for ``GET /metrics``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

LAG_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500)


@dataclass
class Metrics:
    connections: int = 0
    connections_total: int = 0
    frames_in: int = 0
    events_in: dict[str, int] = field(default_factory=dict)
    frames_out: int = 0
    frames_direct: int = 0  # of frames_out: written at once to an idle, writable socket
    deliveries_out: int = 0  # events x viewers they were sent to
    disconnects: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    lag_buckets: list[int] = field(default_factory=lambda: [0] * (len(LAG_BUCKETS_MS) + 1))
    lag_sum_ms: float = 0.0
    lag_count: int = 0
    # Webhook attempts by outcome: delivered (2xx), failed (an attempt that will be retried),
    # given_up (the retry window is over). Gauges live_webhook_* are the deliverer's samples.
    webhooks: dict[str, int] = field(default_factory=dict)
    webhook_deferrals: int = 0  # polls a busy loop left to buyers (live/loop_load.py)
    # Orders this process moved into each state (born reserved or confirmed, confirmed, cancelled,
    # expired): the service's totals are the sum over its processes.
    orders: dict[str, int] = field(default_factory=dict)
    live_notices: int = 0  # ``live`` frames this process pushed to /ws/me sockets (go-live notices)
    gauges: dict[str, Callable[[], float]] = field(default_factory=dict)

    def event_in(self, kind: str) -> None:
        self.frames_in += 1
        self.events_in[kind] = self.events_in.get(kind, 0) + 1

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def webhook(self, outcome: str) -> None:
        self.webhooks[outcome] = self.webhooks.get(outcome, 0) + 1

    def order(self, state: str, n: int = 1) -> None:
        self.orders[state] = self.orders.get(state, 0) + n

    def disconnect(self, code: int) -> None:
        self.disconnects[code] = self.disconnects.get(code, 0) + 1

    def fanout_lag(self, ms: float) -> None:
        """Time from an event's append in Redis to its frame being queued to viewers."""
        self.lag_sum_ms += ms
        self.lag_count += 1
        for i, bound in enumerate(LAG_BUCKETS_MS):
            if ms <= bound:
                self.lag_buckets[i] += 1
                return
        self.lag_buckets[-1] += 1

    def render(self) -> str:
        lines = [
            "# TYPE live_connections gauge",
            f"live_connections {self.connections}",
            "# TYPE live_connections_total counter",
            f"live_connections_total {self.connections_total}",
            "# TYPE live_frames_in_total counter",
            f"live_frames_in_total {self.frames_in}",
            "# TYPE live_events_in_total counter",
            *(f'live_events_in_total{{t="{k}"}} {v}' for k, v in sorted(self.events_in.items())),
            "# TYPE live_frames_out_total counter",
            f"live_frames_out_total {self.frames_out}",
            "# TYPE live_frames_direct_total counter",
            f"live_frames_direct_total {self.frames_direct}",
            "# TYPE live_event_deliveries_total counter",
            f"live_event_deliveries_total {self.deliveries_out}",
            "# TYPE live_disconnects_total counter",
            *(f'live_disconnects_total{{code="{k}"}} {v}' for k, v in sorted(self.disconnects.items())),
            "# TYPE live_errors_total counter",
            *(f'live_errors_total{{code="{k}"}} {v}' for k, v in sorted(self.errors.items())),
            "# TYPE live_webhook_deliveries_total counter",
            *(
                f'live_webhook_deliveries_total{{outcome="{k}"}} {v}'
                for k, v in sorted(self.webhooks.items())
            ),
            "# TYPE live_webhook_deferrals_total counter",
            f"live_webhook_deferrals_total {self.webhook_deferrals}",
            "# TYPE live_order_changes_total counter",
            *(f'live_order_changes_total{{state="{k}"}} {v}' for k, v in sorted(self.orders.items())),
            "# TYPE live_me_live_events_total counter",
            f"live_me_live_events_total {self.live_notices}",
            "# TYPE live_fanout_lag_ms histogram",
        ]
        cumulative = 0
        for bound, n in zip((*LAG_BUCKETS_MS, "+Inf"), self.lag_buckets, strict=True):
            cumulative += n
            lines.append(f'live_fanout_lag_ms_bucket{{le="{bound}"}} {cumulative}')
        lines += [
            f"live_fanout_lag_ms_sum {self.lag_sum_ms:.3f}",
            f"live_fanout_lag_ms_count {self.lag_count}",
        ]
        for name, read in sorted(self.gauges.items()):
            lines += [f"# TYPE {name} gauge", f"{name} {read()}"]
        return "\n".join(lines) + "\n"

"""The webhook settings and flags: a URL needs a secret; the retry window is at least 24 h."""

from __future__ import annotations

import pytest

from live.cli import build_parser, settings_from_args
from live.settings import Settings, SettingsError


def test_defaults_mean_no_webhooks() -> None:
    s = Settings()
    assert (s.webhook_url, s.webhook_secret, s.webhook_timeout_s) == ("", "", 5.0)
    assert (s.webhook_retry_hours, s.webhook_backoff_max_s) == (72, 600.0)


def test_flags_of_live_serve_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVE_WEBHOOK_URL", "http://env.example/hooks")
    monkeypatch.setenv("LIVE_WEBHOOK_SECRET", "env-secret")
    monkeypatch.setenv("LIVE_WEBHOOK_TIMEOUT_S", "2.5")
    args = build_parser().parse_args(
        ["serve", "--dev", "--webhook-url", "https://shop.example/hooks", "--webhook-secret", "s3"]
    )
    s = settings_from_args(args)
    assert (s.webhook_url, s.webhook_secret, s.webhook_timeout_s) == ("https://shop.example/hooks", "s3", 2.5)


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        ({"webhook_url": "http://shop/hooks"}, "LIVE_WEBHOOK_SECRET (or --webhook-secret) must be set"),
        ({"webhook_url": "shop/hooks", "webhook_secret": "s"}, "LIVE_WEBHOOK_URL must start with http://"),
        ({"webhook_retry_hours": 23}, "LIVE_WEBHOOK_RETRY_HOURS must be an integer >= 24, got 23"),
        ({"webhook_timeout_s": 0.0}, "LIVE_WEBHOOK_TIMEOUT_S must be a number >= 0.01, got 0.0"),
        ({"webhook_backoff_max_s": 0.0}, "LIVE_WEBHOOK_BACKOFF_MAX_S must be a number >= 0.01"),
    ],
)
def test_unusable_webhook_settings_are_one_line(changes: dict[str, object], line: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings(dev=True, **changes).validate()  # type: ignore[arg-type]
    assert str(err.value).startswith(line)


def test_a_secret_without_a_url_is_harmless() -> None:
    Settings(dev=True, webhook_secret="s").validate()

"""Settings: the environment applies, flags override it, a bad value is one clear line."""

from __future__ import annotations

import pytest

from live.settings import DEV_SECRET, Settings, SettingsError


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVE_TICK_MS", "120")
    monkeypatch.setenv("LIVE_DEV", "true")
    monkeypatch.setenv("LIVE_ICE_SERVERS", "stun:a:1, stun:b:2")
    monkeypatch.setenv("LIVE_SECRET", "from-env")
    monkeypatch.setenv("LIVE_HOST", "0.0.0.0")
    monkeypatch.setenv("LIVE_PORT", "9100")
    monkeypatch.setenv("LIVE_DATA_DIR", "/srv/live")
    monkeypatch.setenv("LIVE_WORKERS", "3")
    settings = Settings.from_env(secret="from-flag", redis_url=None, port=None)
    assert settings.tick_ms == 120 and settings.dev is True
    assert settings.ice_servers == ("stun:a:1", "stun:b:2")
    assert settings.secret == "from-flag"  # a flag wins
    assert (settings.host, settings.port, settings.data_dir, settings.workers) == (
        "0.0.0.0",
        9100,
        "/srv/live",
        3,
    )
    assert Settings.from_env(port=0, workers=1).port == 0


@pytest.mark.parametrize(
    ("env", "value", "line"),
    [
        ("LIVE_PORT", "x", "LIVE_PORT must be an integer 0-65535, got 'x'"),
        ("LIVE_PORT", "70000", "LIVE_PORT must be an integer 0-65535, got 70000"),
        ("LIVE_WORKERS", "0", "LIVE_WORKERS must be an integer >= 1, got 0"),
        ("LIVE_TICK_MS", "-5", "LIVE_TICK_MS must be an integer >= 0, got -5"),
        ("LIVE_FRAMES_PER_S", "fast", "LIVE_FRAMES_PER_S must be a number >= 0, got 'fast'"),
        ("LIVE_FRAMES_PER_S", "nan", "LIVE_FRAMES_PER_S must be a number >= 0, got nan"),
        ("LIVE_HISTORY_KEEP", "10", "LIVE_HISTORY_KEEP must be an integer >= 1000, got 10"),
        ("LIVE_DEV", "maybe", "LIVE_DEV must be true or false (1/0, yes/no), got 'maybe'"),
        ("LIVE_REDIS_URL", "localhost:6379", "LIVE_REDIS_URL must start with one of"),
        ("LIVE_LOG_LEVEL", "loud", "LIVE_LOG_LEVEL must be one of"),
    ],
)
def test_a_bad_value_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, line: str
) -> None:
    monkeypatch.setenv("LIVE_DEV", "1")
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as err:
        Settings.from_env()
    assert str(err.value).startswith(line) and "\n" not in str(err.value)


def test_the_public_default_secret_needs_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIVE_SECRET", raising=False)
    monkeypatch.delenv("LIVE_DEV", raising=False)
    with pytest.raises(SettingsError, match="LIVE_SECRET"):
        Settings.from_env()
    assert Settings.from_env(dev=True).secret == DEV_SECRET
    assert Settings.from_env(secret="a-secret-of-our-own-0123456789abcdef").dev is False


def test_history_keeps_at_least_what_the_contract_promises() -> None:
    assert Settings().history_keep >= 1000

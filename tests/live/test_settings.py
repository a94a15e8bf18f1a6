import pytest

from live.settings import Settings


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVE_TICK_MS", "120")
    monkeypatch.setenv("LIVE_DEV", "true")
    monkeypatch.setenv("LIVE_ICE_SERVERS", "stun:a:1,stun:b:2")
    monkeypatch.setenv("LIVE_SECRET", "from-env")
    settings = Settings.from_env(secret="from-flag", redis_url=None)
    assert settings.tick_ms == 120 and settings.dev is True
    assert settings.ice_servers == ("stun:a:1", "stun:b:2")
    assert settings.secret == "from-flag"


def test_history_keeps_at_least_what_the_contract_promises() -> None:
    assert Settings().history_keep >= 1000

from __future__ import annotations

from pathlib import Path

import pytest

from callcrew.settings import SettingsError, load_settings

pytestmark = pytest.mark.unit


def test_defaults_need_nothing() -> None:
    s = load_settings()
    assert s.stack == "economy"
    assert s.database_url.startswith("sqlite:///")
    assert s.livekit_problems()  # but a worker could not start


def test_every_invalid_value_is_reported_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACK", "gold")
    monkeypatch.setenv("LIVEKIT_URL", "localhost:7880")
    monkeypatch.setenv("STT", "deepgram")
    monkeypatch.setenv("DATABASE_URL", "mysql://x")
    monkeypatch.setenv("ENDPOINTING_MIN_DELAY", "-1")
    with pytest.raises(SettingsError) as err:
        load_settings()
    text = str(err.value)
    for name in ("STACK", "LIVEKIT_URL", "STT", "DATABASE_URL", "ENDPOINTING_MIN_DELAY"):
        assert f"{name}:" in text
    assert "'gold'" in text and len(err.value.problems) == 5


def test_secrets_never_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("STACK", "nope")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "sk-very-secret" not in str(err.value)
    s = load_settings(stack="economy")
    assert "sk-very-secret" not in repr(s)


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LIVEKIT_URL=ws://127.0.0.1:7880\nLOG_LEVEL=debug\n")
    s = load_settings()
    assert s.livekit_url == "ws://127.0.0.1:7880"
    assert s.log_level == "DEBUG"


def test_dotenv_local_is_read_and_dotenv_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `lk app env -w` writes: the LiveKit keys in .env.local.
    (tmp_path / ".env.local").write_text(
        "LIVEKIT_URL=wss://demo.livekit.cloud\nLIVEKIT_API_KEY=from-local\nAGENT_NAME=local\n"
    )
    (tmp_path / ".env").write_text("LIVEKIT_API_KEY=from-dotenv\nAGENT_NAME=dotenv\n")
    monkeypatch.setenv("AGENT_NAME", "process")
    s = load_settings()
    assert s.livekit_url == "wss://demo.livekit.cloud"  # only in .env.local
    assert s.livekit_api_key == "from-dotenv"  # .env beats .env.local
    assert s.agent_name == "process"  # the environment beats both


def test_missing_livekit_settings_are_all_named() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings().require_livekit()
    assert [p.split()[0] for p in err.value.problems] == [
        "LIVEKIT_URL",
        "LIVEKIT_API_KEY",
        "LIVEKIT_API_SECRET",
    ]


def test_endpointing_max_below_min_is_refused() -> None:
    with pytest.raises(SettingsError, match="ENDPOINTING_MAX_DELAY"):
        load_settings(endpointing_min_delay=1.0, endpointing_max_delay=0.5)

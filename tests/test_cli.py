"""The command line as a user meets it: help, refusals with clear messages, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from callcrew.cli import app

pytestmark = pytest.mark.unit
runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("start", "dev", "console", "download-files", "simulate", "cost"):
        assert cmd in result.output


@pytest.mark.parametrize("command", ["start", "dev"])
def test_worker_without_livekit_settings_fails_loudly(command: str) -> None:
    result = runner.invoke(app, [command])
    assert result.exit_code == 2
    for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "DEEPGRAM_API_KEY"):
        assert name in result.output


def test_worker_refuses_an_unknown_block_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS", "acme/voice-1")
    result = runner.invoke(app, ["start"])
    assert result.exit_code == 2
    assert "TTS=acme/voice-1: unknown provider 'acme'" in result.output


def test_console_without_a_terminal_says_so() -> None:
    result = runner.invoke(app, ["console", "--text"])
    assert result.exit_code == 2
    assert "terminal" in result.output or "PortAudio" in result.output


def test_worker_refuses_an_unsigned_crm_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_WEBHOOK_URL", "https://crm.example/hooks/calls")
    result = runner.invoke(app, ["start"])
    assert result.exit_code == 2
    assert "CRM_WEBHOOK_SECRET is not" in result.output
    assert "CRM_WEBHOOK_ALLOW_UNSIGNED=true" in result.output
    monkeypatch.setenv("CRM_WEBHOOK_ALLOW_UNSIGNED", "true")
    allowed = runner.invoke(app, ["start"])
    assert allowed.exit_code == 2  # still no LiveKit settings, but no complaint about the hook
    assert "CRM_WEBHOOK_SECRET" not in allowed.output


def test_worker_names_the_keys_a_per_agent_override_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = yaml.safe_load((REPO / "agents" / "data" / "default_business.yaml").read_text())
    profile["desk"]["agents"] = {"wrapup": {"tts": "elevenlabs/eleven_flash_v2_5"}}
    (tmp_path / "business.yaml").write_text(yaml.safe_dump(profile))
    monkeypatch.setenv("BUSINESS_PROFILE", str(tmp_path / "business.yaml"))
    result = runner.invoke(app, ["start"])
    assert result.exit_code == 2
    assert "ELEVENLABS_API_KEY is not set" in result.output
    assert "the profile's agents.wrapup overrides it" in result.output


def test_worker_names_a_broken_profile_among_its_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "business.yaml").write_text("name: x\n")
    monkeypatch.setenv("BUSINESS_PROFILE", str(tmp_path / "business.yaml"))
    result = runner.invoke(app, ["start"])
    assert result.exit_code == 2
    assert "invalid business profile" in result.output and "LIVEKIT_URL" in result.output

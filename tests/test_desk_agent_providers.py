"""The desk's agents take per-agent providers from `desk.agents` in the profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from callcrew.cli import app

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "agents" / "data"


def _rehearse(tmp_path: Path, agents: dict[str, object]) -> tuple[int, str, dict[str, object]]:
    profile = yaml.safe_load((DATA / "default_business.yaml").read_text())
    profile["desk"]["agents"] = agents
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
    scenario = yaml.safe_load((DATA / "demo_call.yaml").read_text())
    scenario["profile"] = "profile.yaml"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(scenario))
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["simulate", "-q", str(tmp_path / "s.yaml"), "--report", str(out)]
    )
    data = json.loads(out.read_text()) if out.exists() else {}
    report = data[0] if isinstance(data, list) else data
    return result.exit_code, result.output, report


def test_a_desk_agent_is_reported_and_priced_at_its_own_voice(tmp_path: Path) -> None:
    code, output, report = _rehearse(tmp_path, {"wrapup": {"tts": "elevenlabs/eleven_flash_v2_5"}})
    assert code == 0, output
    agents = {a["agent"]: a for a in report["agents"]}  # type: ignore[union-attr]
    assert agents["wrapup"]["overrides"]["tts"] == "elevenlabs/eleven_flash_v2_5"
    assert agents["intro"]["overrides"] == {}
    cost = {a["agent"]: a for a in report["cost"]["agents"]}  # type: ignore[index]
    assert cost["wrapup"]["models"]["tts"] == "elevenlabs/business"
    assert cost["intro"]["models"]["tts"] != "elevenlabs/business"


def test_an_unknown_desk_agent_is_one_clear_line(tmp_path: Path) -> None:
    code, output, _ = _rehearse(tmp_path, {"storyteller": {"llm": "openai/gpt-4.1-mini"}})
    assert code == 2
    assert "no such agent storyteller; the desk's: intro, appointments, survey, wrapup" in output
    assert "Traceback" not in output

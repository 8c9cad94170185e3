"""`simulate --audio --caller-llm`: the LLM caller's lines spoken through the same audio path
as scripted lines (espeak-ng -> Silero VAD -> Whisper -> turn detection -> replayed crew ->
Hibari TTS), the caller LLM being the local scripted stub."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from callcrew.settings import Settings
from callcrew.simulate.audio import AudioOptions
from callcrew.simulate.caller_llm import CallerLLM
from callcrew.simulate.runner import run_scenario
from callcrew.simulate.scenario import parse_scenario
from tests.scripted_llm_stub import ScriptedLLM, serve

pytestmark = pytest.mark.audio

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may come from a model hub

SCENARIO = """\
name: An LLM caller, spoken
channel: web
instructions: You are Dana Whitfield. Book a haircut, take the first time offered.
turns:
  - caller: (the caller LLM speaks here)
    agent:
      - tool: hand_off_to_desk
        args: {caller_name: Dana Whitfield, reason: a haircut}
      - tool: find_free_slots
        args: {service: haircut, day: "2026-06-16"}
      - say: "On Tuesday I have 9 am or 9:30 am."
  - caller: (the caller LLM speaks here)
    agent:
      - tool: book_appointment
        args: {service: haircut, slot_id: "2026-06-16T09:00"}
      - say: "Booked."
        tool: wrap_up
      - say: "A haircut on Tuesday at 9. Anything else?"
  - caller: (the caller LLM speaks here)
    agent:
      - tool: end_call
expect:
  outcome: booked
  hung_up: true
  booked_on_call: ["2026-06-16T09:00"]
"""


async def test_the_llm_callers_lines_are_spoken_and_heard(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng (scripts/install --system)")
    import yaml

    scenario = parse_scenario(yaml.safe_load(textwrap.dedent(SCENARIO)))
    async with serve(ScriptedLLM()) as stub:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            # the rehearsal runs Whisper: the local stack's turn-taking (turn_defaults.py)
            stt="local/tiny.en",
            reports_dir=tmp_path / "reports",
            database_url=f"sqlite:///{tmp_path / 'unused.db'}",
            caller_llm_base_url=stub.url,
            caller_llm_api_key="test-key",  # type: ignore[arg-type]
        )
        result = await run_scenario(
            scenario,
            settings,
            audio=AudioOptions(wav=tmp_path / "call.wav"),
            caller=CallerLLM(settings),
        )
    assert result.passed, result.failures
    lines = result.report["audio"]["lines"]
    assert [row["said"] for row in lines] == [
        "Hi, this is Dana Whitfield. I'd like to book a haircut.",
        "The first one, please.",
        "No, that's all. Thanks, bye!",
    ]
    assert all(row["heard"] for row in lines)  # the STT heard every spoken line
    # The caller answered what the agent had said aloud just before each line.
    heard_by_caller = [b["messages"][-1]["content"] for b in stub.of("caller")]
    assert heard_by_caller[1] == "On Tuesday I have 9 am or 9:30 am."
    assert heard_by_caller[2].endswith("Anything else?")
    facts = result.report["rehearsal"]["caller_llm"]
    assert facts["caller_lines"] == 3 and facts["ended"] == "the caller hung up"
    assert [u["role"] for u in result.report["evaluation"]["usage"]] == ["caller"]

"""`simulate --live`: the same runner with a real OpenAI-compatible model over HTTP.

The model is a local stub server; the OpenAI plugin, the crew, tools and store are real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from callcrew.providers.stacks import live_llm_from_settings
from callcrew.settings import SettingsError, load_settings
from callcrew.simulate.runner import run_scenario
from callcrew.simulate.scenario import load_scenario
from tests.openai_stub import OpenAIStub, StubReply, serve

pytestmark = pytest.mark.rehearsal

DEMO = Path(__file__).resolve().parents[1] / "agents" / "data" / "demo_call.yaml"


async def test_live_rehearsal_against_an_openai_compatible_server() -> None:
    stub = OpenAIStub(
        replies=[
            StubReply(
                tool_calls=[
                    (
                        "hand_off_to_desk",
                        {"caller_name": "Dana Whitfield", "reason": "haircut next Tuesday"},
                    )
                ]
            ),
            StubReply(
                tool_calls=[("find_free_slots", {"service": "haircut", "day": "2026-06-16"})]
            ),
            StubReply(text="I have nine, half past nine or ten. Which one?"),
            StubReply(
                text="Booked.",
                tool_calls=[
                    ("book_appointment", {"service": "haircut", "slot_id": "2026-06-16T09:30"})
                ],
            ),
            StubReply(text="Done.", tool_calls=[("wrap_up", {})]),
            StubReply(text="A haircut on Tuesday at 9:30. Anything else?"),
            StubReply(tool_calls=[("end_call", {})]),
        ]
    )
    async with serve(stub):
        settings = load_settings(llm_base_url=stub.url, llm="openai/stub-model")
        model = live_llm_from_settings(settings)
        result = await run_scenario(load_scenario(DEMO), settings, live_llm=model)
    assert result.failures == [], result.failures
    assert result.passed
    # The real client sent real requests: our tools, our system prompt, the caller's words.
    first = stub.requests[0]
    assert first["model"] == "stub-model"
    assert {t["function"]["name"] for t in first["tools"]} == {
        "hand_off_to_desk",
        "end_conversation",
        "request_human",
        "take_message",
    }
    assert "receptionist of Maple Street Salon" in first["messages"][0]["content"]
    llm_usage = next(u for u in result.report["usage"] if u["kind"] == "llm")
    assert llm_usage["model"] == "stub-model"
    assert llm_usage["input_tokens"] == 1200 * len(stub.requests)
    assert llm_usage["cached_input_tokens"] == 1024 * len(stub.requests)


def test_live_needs_an_endpoint_or_a_key() -> None:
    with pytest.raises(SettingsError, match="LLM_BASE_URL"):
        live_llm_from_settings(load_settings())


async def test_live_rehearsal_against_a_hanging_endpoint_apologises_and_ends() -> None:
    """It used to sit in 44.6 s of silence (4 tries x 10 s) and fail; now one attempt, bounded
    by LLM_ATTEMPT_TIMEOUT, a filler while it waits, then the apology and a clean ending."""
    stub = OpenAIStub(replies=[], faults={"stuck-model": "hang"})
    async with serve(stub):
        settings = load_settings(
            llm_base_url=stub.url,
            llm="openai/stuck-model",
            llm_attempt_timeout=0.8,
            filler_after=0.2,
        )
        result = await run_scenario(
            load_scenario(DEMO), settings, live_llm=live_llm_from_settings(settings)
        )
    report = result.report
    said = " ".join(t["text"] for t in report["transcript"] if t["role"] == "agent")
    profile = result.state.profile
    assert profile.one_moment in said and profile.technical_trouble in said
    assert report["outcome"] == "provider_failure"
    assert report["ended_by"] == "provider_failure"
    # The crew's plan: the built-in profile names a colleague, so the caller is put through.
    assert report["notes"]["provider_failure"] == {"block": "llm", "action": "transfer"}
    assert report["rehearsal"]["transferred_to"] == profile.transfer_number
    assert report["providers"]["failed_blocks"] == ["llm"]
    assert any("stuck-model" in e and "Timeout" in e for e in report["errors"])
    # One attempt per caller line that reached the model, not four (the recovery probe LiveKit
    # sends to a failed provider may add one).
    assert len(stub.requests) <= 2
    assert not result.passed  # the demo's bookings never happened

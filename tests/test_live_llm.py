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

DEMO = Path(__file__).resolve().parents[1] / "src" / "callcrew" / "data" / "demo_call.yaml"


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

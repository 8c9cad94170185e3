"""What an audio rehearsal runs with (simulate/audio/setup.py): it always runs the local
Whisper (a batch STT), so it takes the local stack's turn-taking values unless they were set."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcrew.settings import Settings
from callcrew.simulate.audio.setup import rehearsal_settings, rehearsal_turn_handling
from callcrew.turn_defaults import TURN_DEFAULTS

pytestmark = pytest.mark.unit

TURN_KEYS = list(TURN_DEFAULTS["batch"])


@pytest.fixture(autouse=True)
def _no_turn_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [*TURN_KEYS, "STACK", "STT"]:
        monkeypatch.delenv(key.upper(), raising=False)


def _turn(s: Settings) -> dict[str, object]:
    return {k: getattr(s, k) for k in TURN_KEYS}


def test_a_cloud_stack_rehearses_with_the_batch_values() -> None:
    cloud = Settings(_env_file=None, stack="economy")  # type: ignore[call-arg]
    assert _turn(cloud) == TURN_DEFAULTS["streaming"]  # the call's own: Deepgram streams
    assert cloud.turn_values_given == frozenset()
    rehearsal = rehearsal_settings(cloud)
    assert _turn(rehearsal) == TURN_DEFAULTS["batch"]  # the rehearsal's STT is Whisper
    assert rehearsal.stack == "economy"  # only the turn values change
    handling = rehearsal_turn_handling(rehearsal)
    assert handling["endpointing"]["min_delay"] == TURN_DEFAULTS["batch"]["endpointing_min_delay"]


def test_values_set_explicitly_win(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VAD_MIN_SILENCE", "0.3")  # the environment
    env = tmp_path / ".env"
    env.write_text("ENDPOINTING_MIN_DELAY=0.25\n")  # a .env file
    s = Settings(_env_file=env, stack="premium")  # type: ignore[call-arg]
    assert s.turn_values_given == {"vad_min_silence", "endpointing_min_delay"}
    rehearsal = rehearsal_settings(s)
    assert rehearsal.vad_min_silence == 0.3 and rehearsal.endpointing_min_delay == 0.25
    # the rest is the batch STT's
    assert rehearsal.endpointing_max_delay == TURN_DEFAULTS["batch"]["endpointing_max_delay"]
    assert rehearsal.turn_detection == TURN_DEFAULTS["batch"]["turn_detection"]
    # an argument counts as set too
    arg = Settings(_env_file=None, stack="economy", turn_detection="vad")  # type: ignore[call-arg]
    assert rehearsal_settings(arg).turn_detection == "vad"


def test_a_local_stt_is_left_as_it_is() -> None:
    for s in (
        Settings(_env_file=None, stack="local"),  # type: ignore[call-arg]
        Settings(_env_file=None, stack="economy", stt="local/tiny.en"),  # type: ignore[call-arg]
    ):
        assert _turn(s) == TURN_DEFAULTS["batch"]
        assert rehearsal_settings(s) is s


def test_rehearsals_run_the_calls_preemptive_generation() -> None:
    s = Settings(_env_file=None, stack="local")  # type: ignore[call-arg]
    handling = rehearsal_turn_handling(s)
    assert handling["preemptive_generation"]["enabled"] is s.preemptive_generation is True


async def test_a_turns_preemptive_and_final_requests_are_one_turn() -> None:
    """The replay LLM of an audio rehearsal, asked as LiveKit's preemptive generation asks:
    on the early words (a message of their own), again on the final words, then after the
    tool ran, then for the next caller line."""
    from livekit.agents import function_tool, llm

    from callcrew.simulate.audio.setup import LineTrackingReplay
    from callcrew.simulate.replay import ReplayScript
    from callcrew.simulate.scenario import AgentStep

    turns = {
        0: [
            AgentStep.model_validate({"tool": "find_slots", "args": {"day": "friday"}}),
            AgentStep.model_validate({"say": "Friday at eleven is free."}),
        ],
        1: [AgentStep.model_validate({"say": "Booked."})],
    }
    script = ReplayScript(turns=turns)
    model = LineTrackingReplay(script, reply_lines=[0, 1])
    greeting = llm.ChatMessage(role="assistant", content=["Hello, how can I help?"])

    @function_tool
    async def find_slots(day: str) -> str:
        """Free slots on a day."""
        return "11:00"

    async def ask(*items: llm.ChatItem) -> str:
        stream = model.chat(chat_ctx=llm.ChatContext(list(items)), tools=[find_slots])
        await stream.aclose()
        step = script.calls[-1].step
        return step.describe() if step else "none"

    early = llm.ChatMessage(role="user", content=["Have you got Friday"])
    final = llm.ChatMessage(role="user", content=["Have you got Friday at eleven?"])
    call = llm.FunctionCall(call_id="c1", name="find_slots", arguments='{"day": "friday"}')
    out = llm.FunctionCallOutput(call_id="c1", name="find_slots", output="11:00", is_error=False)
    reply = llm.ChatMessage(role="assistant", content=["Friday at eleven is free."])
    nxt = llm.ChatMessage(role="user", content=["Yes please."])

    first = await ask(greeting, early)  # preemptive, on the early words
    assert not model.committed[0].is_set()  # asked, but the caller may still be speaking
    assert await ask(greeting, final) == first  # the final words: the same turn, same step
    model.item_added(final)  # the session commits the turn: the final words in the chat
    assert model.committed[0].is_set() and not model.committed[1].is_set()
    assert "find_slots" in first
    assert "Friday at eleven" in await ask(greeting, final, call, out)  # after the tool
    model.item_added(nxt)  # the session may add the message before the model is asked
    assert not model.committed[1].is_set()
    assert (
        await ask(greeting, final, call, out, reply, nxt)
        == AgentStep.model_validate({"say": "Booked."}).describe()
    )
    assert model.committed[1].is_set()
    assert model.message_line == {early.id: 0, final.id: 0, nxt.id: 1}
    assert model.unexpected_turns == []
    script.finish_turn()
    assert script.problems == []

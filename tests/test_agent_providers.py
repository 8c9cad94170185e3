"""Per-agent providers: the overrides' validation, and a call whose second agent runs its own
LLM (the OpenAI-compatible stub at the network boundary sees both models), attributed and
priced per agent in the report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import Agent, RunContext, function_tool
from pydantic import ValidationError

from callcrew.call import CallInfo, CallState, Channel
from callcrew.metrics.call_cost import cost_of_report
from callcrew.metrics.pricing import load_catalog
from callcrew.metrics.report import build_report
from callcrew.profile import load_profile
from callcrew.providers.agent_providers import (
    AgentProviders,
    CallProviders,
    agent_kwargs,
    register,
)
from callcrew.providers.recovery import ProviderRecovery, RecoveringLLM
from callcrew.providers.session import build_session
from callcrew.providers.stacks import resolve_stack
from callcrew.settings import Settings
from callcrew.simulate.runner import SimCallControl
from callcrew.store import open_store
from tests.openai_stub import OpenAIStub, StubReply, serve

pytestmark = pytest.mark.unit

KEY = "sk-agent-providers-SECRET-123456789"
STORY_LLM = "openai/gpt-4.1-nano"


# --- validation ---------------------------------------------------------------------------------


def test_specs_use_the_stack_settings_syntax() -> None:
    p = AgentProviders.model_validate(
        {"llm": " openai/gpt-4.1-nano ", "tts_fallback": "cartesia/sonic-2, elevenlabs/x"}
    )
    assert p.llm == "openai/gpt-4.1-nano"
    assert p.tts_fallback == ("cartesia/sonic-2", "elevenlabs/x")
    assert p.summary() == {
        "llm": "openai/gpt-4.1-nano",
        "tts_fallback": "cartesia/sonic-2, elevenlabs/x",
    }
    choice = p.choice(resolve_stack(Settings()))
    assert str(choice.llm) == "openai/gpt-4.1-nano" and str(choice.tts) == "cartesia/sonic-2"
    assert [str(b) for b in choice.tts_fallback] == ["cartesia/sonic-2", "elevenlabs/x"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"llm": "gpt-4.1"}, "write it as provider/model, e.g. openai/gpt-4.1-mini"),
        (
            {"tts": "acme/voice"},
            "unknown provider 'acme' (choose from cartesia, elevenlabs, local)",
        ),
        ({"stt_fallback": "deepgram/nova-3, nope/x"}, "unknown provider 'nope'"),
        ({"voice": "echo"}, "Extra inputs are not permitted"),
        ({"endpointing_min_delay": 2, "endpointing_max_delay": 1}, "must not be below"),
        ({"turn_detection": "magic"}, "'vad', 'eot' or 'words'"),
    ],
)
def test_bad_overrides_are_one_clear_line(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as err:
        AgentProviders.model_validate(data)
    assert message in str(err.value)


def test_a_key_pasted_as_a_provider_is_not_echoed() -> None:
    with pytest.raises(ValidationError) as err:
        AgentProviders.model_validate({"llm": f"{KEY}/gpt"})
    errors = err.value.errors(include_input=False, include_url=False)
    assert KEY not in " ".join(str(e["msg"]) for e in errors)


# --- one call, two agents, two models -------------------------------------------------------------


class StoryAgent(Agent):
    def __init__(self, state: CallState, overrides: AgentProviders) -> None:
        super().__init__(
            instructions="Tell a short story.",
            id="story",
            **agent_kwargs(state, "story", overrides),
        )

    async def on_enter(self) -> None:
        self.session.generate_reply()


class IntroAgent(Agent):
    def __init__(self, overrides: AgentProviders) -> None:
        super().__init__(instructions="Ask the caller's name.", id="intro")
        self.overrides = overrides

    @function_tool
    async def start_story(self, ctx: RunContext[CallState], name: str) -> Agent:
        """The caller gave their name."""
        return StoryAgent(ctx.userdata, self.overrides)


def _state(tmp_path: Path) -> CallState:
    store = open_store(f"sqlite:///{tmp_path / 'calls.db'}")
    return CallState(
        info=CallInfo(channel=Channel.WEB, room="room-agents"),
        control=SimCallControl(Channel.WEB),
        store=store,
        profile=load_profile(),
        now=lambda: datetime.now(UTC),
    )


async def _call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: AgentProviders
) -> tuple[dict[str, Any], OpenAIStub, list[Any]]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    stub = OpenAIStub(
        replies=[
            StubReply(tool_calls=[("start_story", {"name": "Ada"})]),
            StubReply(text="Once upon a time, Ada found a door."),
        ]
    )
    async with serve(stub):
        settings = Settings(llm="openai/gpt-4.1-mini", llm_base_url=stub.url, filler_after=5.0)
        state = _state(tmp_path)
        recovery = ProviderRecovery(state, plan=None)
        session = build_session(
            settings,
            resolve_stack(settings),
            userdata=state,
            vad_model=None,
            text_only=True,
            recovery=recovery,
        )
        await session.start(IntroAgent(overrides))
        await session.run(user_input="I'm Ada.")
        story = session.current_agent
        history, usage = session.history.copy(), session.usage
        await session.aclose()
        report = build_report(
            state, info=state.info, history=history, usage=usage, stack="economy",
            providers=recovery.log.report(),
        )  # fmt: skip
        state.store.close()
    return report, stub, [story]


async def test_the_story_agent_talks_to_its_own_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, stub, (story,) = await _call(
        tmp_path, monkeypatch, AgentProviders(llm=STORY_LLM, endpointing_max_delay=4.0)
    )
    assert [r["model"] for r in stub.requests] == ["gpt-4.1-mini", "gpt-4.1-nano"]
    # The agent's own model is a chain like the session's, with the call's filler and ending.
    assert isinstance(story.llm, RecoveringLLM) and story.llm.filler_text is not None
    assert report["providers"]["chains"]["llm@story"] == [STORY_LLM]
    assert story.max_endpointing_delay == 4.0  # its own turn handling; the rest is the call's

    agents = {a["agent"]: a for a in report["agents"]}
    assert list(agents) == ["intro", "story"]
    assert agents["story"]["overrides"] == {"llm": STORY_LLM, "endpointing_max_delay": "4.0"}
    assert agents["intro"]["overrides"] == {}
    (intro_llm,) = agents["intro"]["usage"]
    (story_llm,) = agents["story"]["usage"]
    assert (intro_llm["model"], story_llm["model"]) == ("gpt-4.1-mini", "gpt-4.1-nano")
    # Totals are the session's own, and the agents add up to them.
    (total,) = [u for u in report["usage"] if u["kind"] == "llm" and u["model"] == "gpt-4.1-nano"]
    assert total["input_tokens"] == story_llm["input_tokens"] == 1200


async def test_each_agent_is_priced_at_its_own_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, _, _ = await _call(tmp_path, monkeypatch, AgentProviders(llm=STORY_LLM))
    catalog = load_catalog("current")
    cost = cost_of_report(report, catalog, "economy")
    assert cost is not None
    by_agent = {a["agent"]: a for a in cost["agents"]}
    assert by_agent["intro"]["models"]["llm"] == "openai/gpt-4.1-mini"
    assert by_agent["story"]["models"]["llm"] == STORY_LLM

    def usd(model: str) -> float:
        rates = catalog.price(model).per_million_tokens
        assert rates is not None
        return float(1024 * rates.cached_input + 176 * rates.input + 20 * rates.output) / 1e6

    assert by_agent["intro"]["llm"] == pytest.approx(usd("openai/gpt-4.1-mini"), abs=1e-6)
    assert by_agent["story"]["llm"] == pytest.approx(usd(STORY_LLM), abs=1e-6)
    assert cost["llm"] == pytest.approx(by_agent["intro"]["llm"] + by_agent["story"]["llm"])
    parts = sum(cost[k] for k in ("livekit", "stt", "llm", "tts", "telephony"))
    assert cost["total"] == pytest.approx(parts, abs=1e-6)


async def test_without_overrides_the_call_costs_what_it_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, stub, _ = await _call(tmp_path, monkeypatch, AgentProviders())
    assert [r["model"] for r in stub.requests] == ["gpt-4.1-mini", "gpt-4.1-mini"]
    catalog = load_catalog("current")
    with_agents = cost_of_report(report, catalog, "economy")
    without = cost_of_report(dict(report, agents=[]), catalog, "economy")
    assert with_agents is not None and without is not None
    assert {k: with_agents[k] for k in without} == without


def test_an_override_that_cannot_be_built_keeps_the_calls_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No Deepgram key: the story agent's own STT cannot be built; the call goes on with the
    # session's, and the report says so without any key in it.
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    state = _state(tmp_path)
    settings = Settings(llm_base_url="http://127.0.0.1:9/v1")
    register(state, CallProviders(settings, resolve_stack(settings)))
    kwargs = agent_kwargs(state, "story", AgentProviders(stt="deepgram/nova-3", llm=STORY_LLM))
    assert "stt" not in kwargs and isinstance(kwargs["llm"], RecoveringLLM)
    (line,) = state.errors
    assert line.startswith("stt for agent story: DEEPGRAM_API_KEY is not set")
    assert line.endswith("(used the call's stt)") and KEY not in line
    state.store.close()


def test_an_agents_own_word_detector_reads_the_crews_list_nouns(tmp_path: Path) -> None:
    state = _state(tmp_path)
    settings = Settings()
    nouns = frozenset({"treatments"})
    register(state, CallProviders(settings, resolve_stack(settings), list_nouns=nouns))
    kwargs = agent_kwargs(state, "story", AgentProviders(turn_detection="words"))
    assert kwargs["turn_handling"]["turn_detection"].list_nouns == nouns
    state.store.close()


def test_a_session_the_engine_did_not_build_only_records(tmp_path: Path) -> None:
    # A text rehearsal: its replay model answers every agent; the overrides are kept for pricing.
    state = _state(tmp_path)
    assert agent_kwargs(state, "story", AgentProviders(llm=STORY_LLM)) == {}
    report = build_report(state, info=state.info, history=None, usage=None, stack="economy")
    assert report["agents"] == [
        {"agent": "story", "overrides": {"llm": STORY_LLM}, "held_s": 0.0, "usage": []}
    ]
    state.store.close()


def test_a_rehearsal_prices_each_agents_words_at_its_own_voice() -> None:
    # Estimated speech: each agent's lines (split at the hand-offs) at its own TTS; ElevenLabs'
    # flash model is priced at the catalog's ElevenLabs entry (billed per plan, not per model).
    story_line = "Once upon a time in Lisbon there was a cat called Ada."
    report: dict[str, Any] = {
        "channel": "web",
        "duration_s": 1.0,
        "usage": [],
        "agents_visited": ["intro", "story"],
        "transcript": [
            {"role": "agent", "text": "Hello! Who am I talking to?"},
            {"role": "caller", "text": "Ada, from Lisbon."},
            {"role": "handoff", "from": "intro", "to": "story"},
            {"role": "agent", "text": story_line},
        ],
        "agents": [
            {"agent": "intro", "overrides": {}, "held_s": 0.5, "usage": []},
            {
                "agent": "story",
                "overrides": {"tts": "elevenlabs/eleven_flash_v2_5"},
                "held_s": 0.5,
                "usage": [],
            },
        ],
    }
    cost = cost_of_report(report, load_catalog("current"), "economy", estimate_speech=True)
    assert cost is not None
    intro, story = cost["agents"]
    assert story["models"]["tts"] == "elevenlabs/business" and story["unpriced"] == []
    minutes = len(story_line) / 15 / 60
    assert story["tts"] == pytest.approx(minutes * 0.06, abs=1e-6)
    assert intro["tts"] == pytest.approx(
        len("Hello! Who am I talking to?") / 15 / 60 * 0.0299, abs=1e-6
    )
    assert cost["tts"] == pytest.approx(intro["tts"] + story["tts"], abs=1e-6)
    assert intro["stt"] > 0 and story["stt"] == 0  # the caller spoke to the intro only

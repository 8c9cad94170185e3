"""Turn-taking options from settings reach the AgentSession (providers/session.py): VAD or
LiveKit's local audio end-of-turn model, fixed or dynamic endpointing, the VAD engine,
preemptive TTS, and the prewarm preload of the model."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.agents import AgentSession, inference

from callcrew.providers.session import (
    build_session,
    load_turn_detector,
    load_vad,
    preload_turn_detector,
    turn_handling,
)
from callcrew.providers.stacks import resolve_stack
from callcrew.settings import Settings, SettingsError, load_settings
from callcrew.simulate.replay import ReplayLLM, ReplayScript

pytestmark = pytest.mark.unit


def _settings(**kw: Any) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


def test_eot_turn_detection_is_the_local_v1_mini_model() -> None:
    th = turn_handling(_settings(turn_detection="eot", vad_min_silence=0.25))
    detector = th["turn_detection"]
    assert isinstance(detector, inference.TurnDetector)
    assert detector.model == "turn-detector-v1-mini"  # never the cloud v1


def test_a_given_detector_is_used_as_is() -> None:
    mine = load_turn_detector()
    th = turn_handling(_settings(turn_detection="eot", vad_min_silence=0.3), mine)
    assert th["turn_detection"] is mine
    # with VAD turn detection a detector handed in is ignored
    assert turn_handling(_settings(turn_detection="vad"), mine)["turn_detection"] == "vad"


def test_words_turn_detection_is_the_dictation_detector() -> None:
    from callcrew.providers.turn_words import DictationTurnDetector

    th = turn_handling(_settings(turn_detection="words", vad_min_silence=0.25))
    assert isinstance(th["turn_detection"], DictationTurnDetector)
    assert th["turn_detection"].hold_s == 1.2
    th = turn_handling(_settings(turn_detection="words", turn_words_hold=""))
    assert th["turn_detection"].hold_s is None  # empty: an open dictation waits max_delay
    assert th["turn_detection"].list_nouns == frozenset()  # no crew: the engine's nouns only
    nouns = frozenset({"treatments"})
    th = turn_handling(_settings(turn_detection="words"), list_nouns=nouns)
    assert th["turn_detection"].list_nouns == nouns  # the crew's, for its list questions


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, ("words", 0.25, 0.2, 2.0)),  # economy: Deepgram streams
        ({"stack": "premium"}, ("words", 0.25, 0.2, 2.0)),
        ({"stack": "local"}, ("words", 0.45, 0.4, 2.0)),  # Whisper hears VAD-cut segments
        ({"stt": "local/tiny.en"}, ("words", 0.45, 0.4, 2.0)),  # a batch STT on economy
        ({"stack": "local", "vad_min_silence": 0.5}, ("words", 0.5, 0.4, 2.0)),  # set wins
        ({"turn_detection": "vad"}, ("vad", 0.25, 0.2, 2.0)),
    ],
)
def test_turn_taking_defaults_follow_the_stacks_stt(
    kw: dict[str, Any], expected: tuple[str, float, float, float]
) -> None:
    s = _settings(**kw)
    got = (s.turn_detection, s.vad_min_silence, s.endpointing_min_delay, s.endpointing_max_delay)
    assert got == expected


def test_turn_taking_set_in_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACK", "local")
    monkeypatch.setenv("ENDPOINTING_MIN_DELAY", "0.3")
    s = _settings()
    assert (s.vad_min_silence, s.endpointing_min_delay) == (0.45, 0.3)


def test_endpointing_mode_delays_and_preemptive_tts_come_from_settings() -> None:
    s = _settings(
        endpointing_mode="dynamic",
        endpointing_min_delay=0.2,
        endpointing_max_delay=1.8,
        preemptive_tts=True,
    )
    th = turn_handling(s)
    assert th["endpointing"] == {"mode": "dynamic", "min_delay": 0.2, "max_delay": 1.8}
    assert th["preemptive_generation"] == {"enabled": True, "preemptive_tts": True}


def test_eot_needs_enough_vad_silence() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(_env_file=None, turn_detection="eot", vad_min_silence=0.2)
    assert "VAD_MIN_SILENCE >= 0.25" in str(err.value)
    with pytest.raises(SettingsError):
        load_settings(_env_file=None, turn_detection="semantic")


def test_vad_engine_choice() -> None:
    native = load_vad(_settings(vad_engine="inference", vad_min_silence=0.3))
    assert isinstance(native, inference.VAD)
    assert native.min_silence_duration == pytest.approx(0.3)
    plugin = load_vad(_settings(vad_min_silence=0.4))
    assert not isinstance(plugin, inference.VAD)
    assert plugin.min_silence_duration == pytest.approx(0.4)


def test_preload_only_when_the_model_is_used() -> None:
    assert preload_turn_detector(_settings()) is False  # words: no model to load
    assert preload_turn_detector(_settings(turn_detection="eot", vad_min_silence=0.25)) is True


async def test_the_options_reach_the_running_session(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY"):
        monkeypatch.setenv(name, "test-key-not-used")
    s = _settings(
        turn_detection="eot",
        vad_min_silence=0.25,
        endpointing_mode="dynamic",
        endpointing_min_delay=0.15,
        endpointing_max_delay=2.0,
        preemptive_tts=True,
    )
    session = build_session(
        s,
        resolve_stack(s),
        userdata=None,
        vad_model=load_vad(s),
        llm_override=ReplayLLM(ReplayScript(turns={})),
    )
    assert isinstance(session, AgentSession)
    opts = session.options
    assert isinstance(session.turn_detection, inference.TurnDetector)
    assert opts.endpointing["mode"] == "dynamic"
    assert opts.endpointing["min_delay"] == 0.15 and opts.endpointing["max_delay"] == 2.0
    assert opts.preemptive_generation["preemptive_tts"] is True


def test_worker_prewarm_loads_the_model_only_for_eot(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from callcrew import worker

    proc: Any = SimpleNamespace(userdata={})
    monkeypatch.setenv("TURN_DETECTION", "vad")
    worker.prewarm(proc)
    assert proc.userdata["turn_detector_loaded"] is False and proc.userdata["vad"] is not None
    monkeypatch.setenv("TURN_DETECTION", "eot")
    monkeypatch.setenv("VAD_MIN_SILENCE", "0.3")
    worker.prewarm(proc)
    assert proc.userdata["turn_detector_loaded"] is True

"""Fallback chains from settings (LiveKit's adapters, our timeouts) and the provider log."""

from __future__ import annotations

import time
from typing import Any

import pytest
from livekit.agents import APIStatusError, llm, stt, tts

from callcrew.providers.fallback import (
    ProviderLog,
    build_llm_chain,
    build_stt_chain,
    build_tts_chain,
)
from callcrew.providers.phrases import PhraseCache, tts_identity
from callcrew.providers.stacks import missing_keys, resolve_stack
from callcrew.settings import Settings, SettingsError, load_settings
from tests.fault_fakes import FaultTTS, fault_plugins

pytestmark = pytest.mark.unit


def test_chains_come_from_settings_in_order() -> None:
    settings = load_settings(
        llm_fallback="openai/gpt-4.1-nano, openai/gpt-4o-mini",
        stt_fallback="local/tiny.en",
        tts_fallback="local/heart",
    )
    choice = resolve_stack(settings)
    assert [str(b) for b in choice.chain("llm")] == [
        "openai/gpt-4.1-mini",
        "openai/gpt-4.1-nano",
        "openai/gpt-4o-mini",
    ]
    assert [str(b) for b in choice.chain("stt")] == ["deepgram/nova-3", "local/tiny.en"]
    assert "TTS cartesia/sonic-2 > local/heart" in choice.describe()


def test_every_bad_chain_entry_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(llm_fallback="openai/gpt-4.1-nano,nonsense", stt_fallback="x")
    assert [p.split(":")[0] for p in err.value.problems] == ["LLM_FALLBACK", "STT_FALLBACK"]
    with pytest.raises(SettingsError) as err2:
        resolve_stack(load_settings(llm_fallback="anthropic/claude", tts_fallback="acme/v1"))
    assert len(err2.value.problems) == 2
    assert "LLM_FALLBACK=anthropic/claude: unknown provider" in err2.value.problems[0]


def test_a_fallback_provider_needs_its_key_too() -> None:
    settings = load_settings(
        deepgram_api_key="k", openai_api_key="k", cartesia_api_key="k",
        tts_fallback="elevenlabs/eleven_flash_v2_5",
    )  # fmt: skip
    assert missing_keys(settings, resolve_stack(settings)) == [
        "ELEVENLABS_API_KEY is not set (the economy stack uses elevenlabs/eleven_flash_v2_5)"
    ]


def test_the_llm_chain_is_livekits_adapter_with_our_attempt_timeout() -> None:
    settings = Settings(openai_api_key="k", llm_attempt_timeout=2.5, provider_retries=1)  # type: ignore[arg-type]
    chain = build_llm_chain(settings, resolve_stack(settings))
    assert isinstance(chain.engine, llm.FallbackAdapter)
    assert chain.engine._attempt_timeout == 2.5
    assert chain.engine._max_retry_per_llm == 1
    assert [label for label, _ in chain.members] == ["openai/gpt-4.1-mini"]


def test_stt_and_tts_chains_of_one_stay_the_plugin() -> None:
    with fault_plugins():
        one = Settings(stt="fake/ok", tts="fake/ok")
        assert isinstance(build_tts_chain(one, resolve_stack(one)).engine, FaultTTS)
        two = Settings(stt="fake/fail", stt_fallback="fake/ok", tts="fake/fail",
                       tts_fallback="fake/ok")  # fmt: skip
        choice = resolve_stack(two)
        assert isinstance(build_tts_chain(two, choice).engine, tts.FallbackAdapter)
        stt_chain = build_stt_chain(two, choice, None)
        assert isinstance(stt_chain.engine, stt.FallbackAdapter)
        assert stt_chain.engine._attempt_timeout == two.stt_attempt_timeout


def test_a_non_streaming_stt_fallback_without_a_vad_is_a_settings_error() -> None:
    pytest.importorskip("faster_whisper")
    with fault_plugins():
        settings = Settings(stt="fake/ok", stt_fallback="local/tiny.en")
        with pytest.raises(SettingsError, match="STT_FALLBACK"):
            build_stt_chain(settings, resolve_stack(settings), None)


def _llm_error(message: str) -> llm.LLMError:
    return llm.LLMError(
        timestamp=time.time(), label="x", error=APIStatusError(message), recoverable=False
    )


def test_the_log_names_the_switch_its_reason_and_who_served_next() -> None:
    settings = Settings(openai_api_key="k", llm_fallback="openai/gpt-4.1-nano")  # type: ignore[arg-type]
    chain = build_llm_chain(settings, resolve_stack(settings))
    errors: list[str] = []
    log = ProviderLog(errors=errors)
    log.attach(chain)
    primary, backup = (m for _, m in chain.members)
    primary.emit("error", _llm_error("Error code: 401 - bad key Bearer sk-abcdefghijk123"))
    chain.engine.emit(
        "llm_availability_changed", llm.AvailabilityChangedEvent(llm=primary, available=False)
    )
    log.caller_lines = 1
    backup.emit("metrics_collected", object())
    report: Any = log.report()
    (switch,) = report["switches"]
    assert switch["provider"] == "openai/gpt-4.1-mini" and switch["to"] == "openai/gpt-4.1-nano"
    assert "401" in switch["reason"] and "sk-abc" not in switch["reason"]
    assert report["served"][0]["provider"] == "openai/gpt-4.1-nano"
    assert report["served"][0]["line"] == 1
    assert errors and errors[0].startswith("llm openai/gpt-4.1-mini: APIStatusError")
    assert "sk-abc" not in errors[0]
    log.close()
    primary.emit("error", _llm_error("after the call"))
    assert len(errors) == 1  # detached


def test_phrases_are_keyed_on_the_chains_own_voice(tmp_path: Any) -> None:
    primary, backup = FaultTTS("ok"), FaultTTS("other")
    adapter = tts.FallbackAdapter([primary, backup])
    assert tts_identity(adapter) == tts_identity(primary)
    cache = PhraseCache(tmp_path)
    assert cache.path_for(adapter, "Hello") == cache.path_for(primary, "Hello")


async def test_each_streaming_provider_of_a_chain_is_gated_on_its_own() -> None:
    from livekit.agents import llm as lk_llm

    from callcrew.providers.gated_stt import GatedSTT
    from callcrew.providers.session import build_session
    from tests.test_gated_stt import EnergyVAD

    with fault_plugins():
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            openai_api_key="k",  # type: ignore[arg-type]
            stt="fake/fail",
            stt_fallback="fake/ok",
            tts="fake/ok",
        )
        session = build_session(
            settings, resolve_stack(settings), userdata=None, vad_model=EnergyVAD()
        )
    adapter = session.stt
    assert isinstance(adapter, stt.FallbackAdapter)
    assert all(isinstance(m, GatedSTT) for m in adapter._stt_instances)
    errors: list[str] = []
    log = ProviderLog(errors=errors)
    from callcrew.providers.fallback import build_stt_chain

    with fault_plugins():
        chain = build_stt_chain(settings, resolve_stack(settings), None, wrap=lambda m: m)
    log.attach(chain)
    # The adapter's events name what it holds; the log still knows which provider that is.
    chain.engine.emit(
        "stt_availability_changed",
        stt.AvailabilityChangedEvent(stt=chain.wrapped[0], available=False),
    )
    assert log.report()["switches"][0]["provider"] == "fake/fail"
    assert isinstance(session.llm, lk_llm.LLM)

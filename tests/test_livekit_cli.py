"""`callcrew console`: what each mode needs before LiveKit's console starts."""

from __future__ import annotations

import pytest

from callcrew.livekit_cli import console_problems
from callcrew.settings import Settings

pytestmark = pytest.mark.unit


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_text_console_needs_only_the_llm() -> None:
    assert console_problems(_settings(openai_api_key="sk-test"), text=True) == []
    # The audio console needs the whole default stack.
    spoken = console_problems(_settings(openai_api_key="sk-test"), text=False)
    assert [p.split()[0] for p in spoken] == ["DEEPGRAM_API_KEY", "CARTESIA_API_KEY"]


def test_text_console_names_the_missing_llm() -> None:
    assert [p.split()[0] for p in console_problems(_settings(), text=True)] == ["OPENAI_API_KEY"]
    local = console_problems(_settings(stack="local"), text=True)
    assert [p.split()[0] for p in local] == ["LLM_BASE_URL"]  # not Whisper or Hibari


def test_text_console_with_a_self_hosted_llm_needs_no_key() -> None:
    settings = _settings(stack="local", llm_base_url="http://127.0.0.1:8000/v1")
    assert console_problems(settings, text=True) == []

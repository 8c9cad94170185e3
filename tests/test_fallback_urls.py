"""LLM_FALLBACK entries with their own OpenAI-compatible server and key variable."""

from __future__ import annotations

import pytest
from livekit.agents import llm

from callcrew.providers.fallback import build_llm_chain
from callcrew.providers.stacks import Block, missing_keys, resolve_stack
from callcrew.settings import SettingsError, load_settings
from tests.openai_stub import OpenAIStub, StubReply, serve

pytestmark = pytest.mark.unit

PASSWORD = "hunter2-SECRET"
OPENAI_KEY = "sk-openai-SECRET-1111"
LOCAL_KEY = "local-SECRET-2222"


def test_an_entry_names_its_server_and_key_variable() -> None:
    settings = load_settings(
        llm="openai/gpt-4.1-mini",
        llm_fallback=(
            "openai/gpt-4.1-nano, "
            "openai/llama3;base_url=http://127.0.0.1:8080/v1?token=abc;api_key_env=LOCAL_LLM_KEY"
        ),
    )
    chain = resolve_stack(settings).chain("llm")
    assert chain[1] == Block("openai", "gpt-4.1-nano")
    assert chain[2].base_url == "http://127.0.0.1:8080/v1?token=abc"
    assert chain[2].api_key_env == "LOCAL_LLM_KEY"
    # The label (the report, the logs) names the host, never the path or query.
    assert [str(b) for b in chain] == [
        "openai/gpt-4.1-mini",
        "openai/gpt-4.1-nano",
        "openai/llama3@127.0.0.1:8080",
    ]


def test_every_bad_entry_is_named_and_no_url_secret_is_printed() -> None:
    entries = [
        "openai/a;base_url=ftp://host/v1",
        f"openai/b;base_url=http://admin:{PASSWORD}@127.0.0.1:8080/v1",
        "openai/c;api_key_env=LOCAL_KEY",  # a key variable without its own server
        "openai/d;base_url=http://127.0.0.1:1/v1;api_key_env=not a name",
        f"openai/e;colour=http://u:{PASSWORD}@h",
        "local/tiny.en;base_url=http://127.0.0.1:1/v1",
        "openai/f;base_url=http://127.0.0.1:99999/v1",
    ]
    with pytest.raises(SettingsError) as err:
        resolve_stack(load_settings(llm_fallback=",".join(entries)))
    problems = err.value.problems
    assert len(problems) == len(entries), problems
    text = "\n".join(problems)
    assert PASSWORD not in text and "admin" not in text
    for expected in (
        "openai/a: base_url must start with http:// or https://",
        "openai/b: base_url must not hold a user name or password",
        "openai/c: api_key_env needs the entry's own base_url",
        "openai/d: api_key_env must name an environment variable",
        "openai/e: unknown option '?'",
        "local/tiny.en: base_url and api_key_env are for openai/... LLM entries",
        "openai/f: base_url is not a valid URL",
    ):
        assert expected in text, (expected, problems)
    assert all(p.startswith("LLM_FALLBACK: ") for p in problems)


def test_a_malformed_entry_head_never_echoes_a_url() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(llm_fallback=f"http://u:{PASSWORD}@host/v1")
    assert PASSWORD not in str(err.value.problems)
    assert "must look like provider/model" in err.value.problems[0]


def test_an_entrys_key_variable_must_be_set_and_openai_key_is_not_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LOCAL_LLM_KEY", raising=False)
    settings = load_settings(
        llm="openai/local",
        llm_base_url="http://127.0.0.1:9/v1",
        llm_fallback="openai/llama3;base_url=http://127.0.0.1:8080/v1;api_key_env=LOCAL_LLM_KEY",
        stt="local/tiny.en",
        tts="local/heart",
    )
    choice = resolve_stack(settings)
    llm_problems = [p for p in missing_keys(settings, choice) if "LLM" in p or "OPENAI" in p]
    assert llm_problems == [
        "LOCAL_LLM_KEY is not set (LLM_FALLBACK openai/llama3@127.0.0.1:8080 names it as its key)"
    ]
    monkeypatch.setenv("LOCAL_LLM_KEY", LOCAL_KEY)
    assert not [p for p in missing_keys(settings, choice) if "LLM" in p or "OPENAI" in p]


async def test_the_chain_moves_to_a_second_local_server_with_its_own_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOCAL_LLM_KEY", LOCAL_KEY)
    down = OpenAIStub(replies=[], faults={"shared-model": "500"})
    up = OpenAIStub(replies=[StubReply(text="From the second server.")])
    async with serve(down), serve(up):
        settings = load_settings(
            llm="openai/shared-model",
            llm_base_url=down.url,
            openai_api_key=OPENAI_KEY,
            llm_fallback=f"openai/shared-model;base_url={up.url};api_key_env=LOCAL_LLM_KEY",
            llm_attempt_timeout=5.0,
        )
        chain = build_llm_chain(settings, resolve_stack(settings))
        assert [label for label, _ in chain.members] == [
            "openai/shared-model",
            f"openai/shared-model@{up.url.split('/')[2]}",
        ]
        ctx = llm.ChatContext()
        ctx.add_message(role="user", content="Hello?")
        text = ""
        async with chain.engine.chat(chat_ctx=ctx) as stream:
            async for chunk in stream:
                if chunk.delta and chunk.delta.content:
                    text += chunk.delta.content
        await chain.engine.aclose()
    assert text.strip() == "From the second server."
    assert down.requests and up.requests
    # Each server got its own key: the vendor key never went to the other server.
    assert all(k == f"Bearer {OPENAI_KEY}" for k in down.keys)
    assert up.keys and all(k == f"Bearer {LOCAL_KEY}" for k in up.keys)

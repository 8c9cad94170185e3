"""Dollar cost of one call, from its report's usage, priced by a catalog.

Live calls are priced from what LiveKit measured (tokens, TTS characters and audio, STT audio).
A text rehearsal has no audio, so its speech minutes are estimated from the words spoken (about
15 characters a second, an ordinary speaking rate) and its replayed tokens are priced as the
stack's LLM; the report labels such a cost `estimated`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from callcrew.metrics.planner import self_hosted_stack
from callcrew.metrics.pricing import (
    CallUsage,
    Catalog,
    CatalogError,
    Stack,
    TokenUsage,
    price_call,
)

SPOKEN_CHARS_PER_SECOND = 15.0
# Turn-taking pauses in a rehearsal (end of turn + answer), per caller turn.
REHEARSAL_GAP_S = 1.0


def _llm_model_id(catalog: Catalog, row: dict[str, Any], fallback: str) -> str:
    for candidate in (f"{row.get('provider')}/{row.get('model')}", f"openai/{row.get('model')}"):
        if candidate in catalog.models:
            return candidate
    return fallback


def usage_from_report(
    report: dict[str, Any], catalog: Catalog, stack: str | Stack, *, estimate_speech: bool
) -> CallUsage:
    chosen = catalog.stack(stack) if isinstance(stack, str) else stack
    llm_fallback = chosen.model_for("llm") or "openai/gpt-4.1-mini"
    llm: dict[str, TokenUsage] = {}
    stt_s = tts_s = 0.0
    tts_chars = 0
    for row in report.get("usage", []):
        if row["kind"] == "llm":
            key = _llm_model_id(catalog, row, llm_fallback)
            prev = llm.get(key, TokenUsage())
            llm[key] = TokenUsage(
                input=prev.input + row["input_tokens"],
                cached_input=prev.cached_input + row["cached_input_tokens"],
                output=prev.output + row["output_tokens"],
            )
        elif row["kind"] == "stt":
            stt_s += row["audio_s"]
        elif row["kind"] == "tts":
            tts_s += row["audio_s"]
            tts_chars += row["characters"]
    duration = float(report.get("duration_s") or 0.0)
    if estimate_speech:
        said = [t for t in report.get("transcript", []) if t["role"] in ("caller", "agent")]
        # Phrases played from the cache cost no TTS.
        cached = report.get("notes", {}).get("phrase_cache", {}).get("cached_texts", [])
        agent_chars = sum(len(t["text"]) for t in said if t["role"] == "agent")
        agent_chars -= min(agent_chars, sum(len(text) for text in cached))
        caller_chars = sum(len(t["text"]) for t in said if t["role"] == "caller")
        tts_chars = agent_chars
        tts_s = agent_chars / SPOKEN_CHARS_PER_SECOND
        stt_s = caller_chars / SPOKEN_CHARS_PER_SECOND
        turns = sum(1 for t in said if t["role"] == "caller")
        duration = max(duration, tts_s + stt_s + turns * REHEARSAL_GAP_S)
    return CallUsage(
        duration_s=duration, stt_audio_s=stt_s, tts_audio_s=tts_s, tts_characters=tts_chars, llm=llm
    )


def cost_of_report(
    report: dict[str, Any],
    catalog: Catalog,
    stack: str,
    *,
    estimate_speech: bool = False,
    self_hosted: bool = False,
) -> dict[str, Any] | None:
    """The report's `cost` block, or None when the catalog has no such stack. `self_hosted`:
    LiveKit on your machines, priced by compute instead of the Cloud plan."""
    try:
        chosen = self_hosted_stack(catalog, stack) if self_hosted else catalog.stack(stack)
        usage = usage_from_report(report, catalog, chosen, estimate_speech=estimate_speech)
        cost = price_call(usage, catalog, chosen, channel=report["channel"])
    except CatalogError:
        return None
    block: dict[str, Any] = asdict(cost)
    block.update(
        {
            "catalog": catalog.catalog,
            "stack": stack,
            "estimated": estimate_speech,
            "minutes": round(usage.duration_s / 60, 3),
            "livekit_hosting": "self-hosted" if self_hosted else "catalog",
        }
    )
    return block

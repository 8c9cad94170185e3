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
    Component,
    Stack,
    TokenUsage,
    price_call,
)

SPOKEN_CHARS_PER_SECOND = 15.0
_COMPONENTS = ("livekit", "stt", "llm", "tts", "telephony")
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
    said = [t for t in report.get("transcript", []) if t["role"] in ("caller", "agent")]
    return _usage(
        report.get("usage", []),
        said,
        _cached_texts(report),
        float(report.get("duration_s") or 0.0),
        catalog,
        chosen.model_for("llm") or "openai/gpt-4.1-mini",
        estimate_speech=estimate_speech,
    )


def _cached_texts(report: dict[str, Any]) -> list[str]:
    cached: list[str] = report.get("notes", {}).get("phrase_cache", {}).get("cached_texts", [])
    return cached


def _usage(
    rows: list[dict[str, Any]],
    said: list[dict[str, Any]],
    cached: list[str],
    duration: float,
    catalog: Catalog,
    llm_fallback: str,
    *,
    estimate_speech: bool,
) -> CallUsage:
    llm: dict[str, TokenUsage] = {}
    stt_s = tts_s = 0.0
    tts_chars = 0
    for row in rows:
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
    if estimate_speech:
        # Phrases played from the cache cost no TTS.
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
    if report.get("agents"):
        _price_agents(block, report, catalog, chosen, usage, estimate_speech=estimate_speech)
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


# --- per agent ----------------------------------------------------------------------------
_BLOCKS: tuple[Component, ...] = ("stt", "llm", "tts")


def _agent_slices(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Caller and agent lines by the agent holding the call when they were said."""
    visited = report.get("agents_visited") or [a["agent"] for a in report.get("agents", [])]
    current: str | None = visited[0] if visited else None
    slices: dict[str, list[dict[str, Any]]] = {}
    for line in report.get("transcript", []):
        if line["role"] == "handoff":
            current = line.get("to") or current
        elif line["role"] in ("caller", "agent") and current is not None:
            slices.setdefault(current, []).append(line)
    return slices


def _agent_stack(
    catalog: Catalog, chosen: Stack, overrides: dict[str, str]
) -> tuple[Stack, list[str]]:
    """The call's stack with the agent's own models where the catalog prices them."""
    changes: dict[str, str] = {}
    unpriced: list[str] = []
    for kind in _BLOCKS:
        spec = overrides.get(kind)
        if not spec:
            continue
        model_id = _catalog_id(catalog, kind, spec)
        if model_id is None:
            unpriced.append(kind)  # priced at the call's model instead, and said so
            continue
        changes[kind] = model_id
    return chosen.model_copy(update=changes), unpriced


def _catalog_id(catalog: Catalog, kind: Component, spec: str) -> str | None:
    """The catalog entry pricing `spec`: its own (or its provider's `provider/*`); for STT and
    TTS, billed per provider plan or minute rather than per model, the entry a catalog stack
    uses for that provider (elevenlabs/eleven_flash_v2_5 -> elevenlabs/business)."""
    try:
        catalog.price(spec)
        return spec
    except CatalogError:
        pass
    if kind == "llm":
        return None  # token prices differ per model: never guess one
    provider = spec.split("/", 1)[0] + "/"
    for stack in catalog.stacks.values():
        model_id = stack.model_for(kind)
        if model_id is not None and model_id.startswith(provider):
            return model_id
    return None


def _covers(parts: list[CallUsage], whole: CallUsage, kind: str) -> bool:
    """The agents' usage of `kind` adds up to the call's: nothing was left unattributed."""
    if kind == "llm":

        def tokens(u: CallUsage) -> int:
            return sum(t.input + t.output for t in u.llm.values())

        return sum(tokens(p) for p in parts) == tokens(whole)
    name = "stt_audio_s" if kind == "stt" else "tts_audio_s"
    found: float = sum(getattr(p, name) for p in parts)
    expected: float = getattr(whole, name)
    return abs(found - expected) < 0.01 * (1 + len(parts))


def _price_agents(
    block: dict[str, Any],
    report: dict[str, Any],
    catalog: Catalog,
    chosen: Stack,
    whole: CallUsage,
    *,
    estimate_speech: bool,
) -> None:
    """`block["agents"]`: each agent's STT, LLM and TTS at its own models. A block some agent
    overrides is then priced in the call's figures as the sum over agents; the others keep the
    call's own pricing, so a crew without overrides costs exactly what it did."""
    slices = _agent_slices(report)
    cached = _cached_texts(report)
    rows: list[dict[str, Any]] = []
    parts: list[CallUsage] = []
    overridden: set[str] = set()
    for entry in report["agents"]:
        name = entry["agent"]
        stack, unpriced = _agent_stack(catalog, chosen, entry.get("overrides") or {})
        overridden |= {k for k in _BLOCKS if stack.model_for(k) != chosen.model_for(k)}
        said = slices.get(name, [])
        spoken = {t["text"] for t in said if t["role"] == "agent"}
        usage = _usage(
            entry.get("usage", []),
            said,
            [text for text in cached if text in spoken],
            float(entry.get("held_s") or 0.0),
            catalog,
            stack.llm,
            estimate_speech=estimate_speech,
        )
        parts.append(usage)
        cost = price_call(usage, catalog, stack, channel=report["channel"])
        rows.append(
            {
                "agent": name,
                "models": {k: stack.model_for(k) for k in _BLOCKS},
                "stt": cost.stt,
                "llm": cost.llm,
                "tts": cost.tts,
                "total": round(cost.stt + cost.llm + cost.tts, 6),
                "unpriced": unpriced,
            }
        )
    block["agents"] = rows
    replaced = [k for k in sorted(overridden) if _covers(parts, whole, k)]
    for kind in replaced:
        block[kind] = round(sum(r[kind] for r in rows), 6)
    if replaced:
        block["total"] = round(sum(block[c] for c in _COMPONENTS), 6)

"""Post-call analysis: after a real call, a side LLM reads the stored report and adds
`analysis: {summary, data, success, ...}` to it, the way hosted voice platforms do.

What to extract and what counts as success come from the business profile's `analysis:`
section, else the crew's `analysis` attribute, else a generic spec (metrics/analysis_spec.py).
It runs after the report is saved, so it never delays the call or risks the report: bounded in
time (ANALYSIS_TIMEOUT_S), in input (ANALYSIS_MAX_INPUT_CHARS of transcript) and in output
(ANALYSIS_MAX_OUTPUT_TOKENS); its tokens are priced in the block. Any failure is recorded as
`analysis.error` and the report goes on as it was.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from livekit.agents import function_tool, llm

from callcrew.metrics.analysis_spec import AnalysisField, AnalysisSpec
from callcrew.metrics.pricing import CatalogError, load_catalog
from callcrew.metrics.side_llm import SideLLM, side_problems
from callcrew.settings import Settings

logger = logging.getLogger("callcrew.analysis")

TOOL = "submit_analysis"
ANALYST_PROMPT = (
    "You are a post-call analyst for {business}'s phone line. Read the call transcript "
    "(caller and agent lines, and the agent's tool calls with their results, which are the "
    "ground truth) and call {tool} exactly once. Use only what the transcript shows; use null "
    "for data the call did not reveal."
)


def spec_for(profile: Any, crew: Any = None) -> AnalysisSpec:
    """The profile's section, else the crew's, else the generic spec."""
    for source in (profile, crew):
        spec = getattr(source, "analysis", None)
        if isinstance(spec, AnalysisSpec):
            return spec
    return AnalysisSpec()


def _field_schema(f: AnalysisField) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": [f.type, "null"], "description": f.description}
    if f.enum:
        schema["enum"] = [*f.enum, None]
    return schema


def parameters(spec: AnalysisSpec) -> dict[str, Any]:
    """The JSON schema of the analysis tool's arguments (strict: every key required)."""
    return {
        "type": "object",
        "properties": {
            "summary": {"type": "string", "description": spec.summary},
            "success": {"type": "boolean", "description": f"Success means: {spec.success}"},
            "success_reason": {"type": "string", "description": "one sentence: why"},
            "data": {
                "type": "object",
                "properties": {k: _field_schema(f) for k, f in spec.data.items()},
                "required": list(spec.data),
                "additionalProperties": False,
            },
        },
        "required": ["summary", "success", "success_reason", "data"],
        "additionalProperties": False,
    }


def transcript_text(report: dict[str, Any], max_chars: int) -> str:
    lines: list[str] = []
    for t in report.get("transcript") or []:
        role = t.get("role")
        if role in ("caller", "agent"):
            lines.append(f"{role}: {t.get('text', '')}")
        elif role == "tool_call":
            lines.append(f"[tool call: {t.get('name')}({t.get('arguments')})]")
        elif role == "tool_result":
            kind = "tool error" if t.get("is_error") else "tool result"
            lines.append(f"[{kind}: {str(t.get('output', ''))[:500]}]")
    text = "\n".join(lines)
    if len(text) <= max_chars:
        return text
    # The opening says why they called, the end says how it ended: keep both.
    half = max_chars // 2
    return text[:half] + "\n[... middle of the call left out ...]\n" + text[-half:]


def _coerce(value: Any, f: AnalysisField) -> Any:
    if value is None:
        return None
    if f.type == "boolean":
        return value if isinstance(value, bool) else None
    if f.type == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if f.type == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return value if ok else None
    text = str(value)[:500]
    return text if not f.enum or text in f.enum else None


def _result(args: dict[str, Any], spec: AnalysisSpec) -> dict[str, Any]:
    raw = args.get("data") if isinstance(args.get("data"), dict) else {}
    assert isinstance(raw, dict)
    success = args.get("success")
    return {
        "summary": str(args.get("summary", ""))[:2000],
        "data": {k: _coerce(raw.get(k), f) for k, f in spec.data.items()},
        "success": success if isinstance(success, bool) else None,
        "success_reason": str(args.get("success_reason", ""))[:500],
    }


def enabled(settings: Settings) -> bool:
    return settings.analysis and not side_problems(settings, "analysis")


async def analyse(
    report: dict[str, Any], settings: Settings, spec: AnalysisSpec, business: str
) -> dict[str, Any]:
    """The `analysis` block for one report; never raises."""
    said = [t for t in report.get("transcript") or [] if t.get("role") == "caller"]
    if not said:
        return {"skipped": "the caller said nothing"}
    started = time.perf_counter()
    block: dict[str, Any] = {}
    side: SideLLM | None = None
    try:
        side = SideLLM(
            settings,
            "analysis",
            # The request's own timeout is looser: asyncio.wait_for below is the bound.
            timeout_s=settings.analysis_timeout_s * 2,
            max_output_tokens=settings.analysis_max_output_tokens,
        )

        async def _submit(raw_arguments: dict[str, object]) -> None:
            return None

        tool = function_tool(
            _submit,
            raw_schema={
                "name": TOOL,
                "description": "Submit the analysis of this call.",
                "parameters": parameters(spec),
            },
        )
        ctx = llm.ChatContext()
        ctx.add_message(role="system", content=ANALYST_PROMPT.format(business=business, tool=TOOL))
        ctx.add_message(
            role="user",
            content="Transcript:\n"
            + transcript_text(report, settings.analysis_max_input_chars)
            + f"\n\nOutcome recorded by the system: {report.get('outcome')}.",
        )
        reply = await asyncio.wait_for(
            side.ask(ctx, tools=[tool], tool_choice="required"), settings.analysis_timeout_s
        )
        calls = [c for c in reply.tool_calls if c.name == TOOL]
        if not calls:
            raise ValueError(f"the analysis LLM did not call {TOOL}")
        block.update(_result(json.loads(calls[0].arguments or "{}"), spec))
    except TimeoutError:
        block["error"] = f"timed out after {settings.analysis_timeout_s:g} s"
    except Exception as exc:  # analysis is best effort: the report stands without it
        block["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    finally:
        if side is not None:
            await side.aclose()
    block["elapsed_s"] = round(time.perf_counter() - started, 3)
    if side is not None:
        try:
            catalog = load_catalog(settings.prices_file)
        except CatalogError:
            catalog = None
        block["usage"] = side.usage.priced(catalog)
        block["cost_usd"] = block["usage"]["usd"]
    if "error" in block:
        logger.warning("call %s: analysis failed: %s", report.get("call_id"), block["error"])
    return block


async def add_analysis(
    store: Any, settings: Settings, report: dict[str, Any], profile: Any, crew: Any = None
) -> None:
    """Worker hook, after the report is saved: analyse, then update the stored report and its
    JSON file in REPORTS_DIR. Never raises; a failure leaves the saved report as it was."""
    if not enabled(settings):
        return
    try:
        business = getattr(profile, "name", None) or "the business"
        report["analysis"] = await analyse(report, settings, spec_for(profile, crew), business)
        await asyncio.to_thread(store.reports.save, report)
        path = settings.reports_dir / f"{report['call_id']}.json"
        if path.exists():
            await asyncio.to_thread(path.write_text, json.dumps(report, indent=2))
    except Exception as exc:
        logger.error("call %s: analysis not stored (%s)", report.get("call_id"), exc)

"""Prompts are Markdown files in prompts/, templated from the business profile and the call.

The profile-only part comes first and is byte-identical across calls, so a provider's prompt
cache can reuse it; the per-call part ("This call") is appended after it.
"""

from __future__ import annotations

from pathlib import Path
from string import Formatter
from typing import Any

from agents.calldata import CallData
from agents.desk_profile import desk
from callcrew.profile import BusinessProfile

_DEFAULT_DIR = Path(__file__).resolve().parent.parent / "prompts"


class PromptError(Exception):
    pass


def _render(name: str, values: dict[str, Any], directory: Path | None) -> str:
    path = (directory or _DEFAULT_DIR) / f"{name}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"prompt file {path} not found (set PROMPTS_DIR?)") from None
    fields = {f for _, f, _, _ in Formatter().parse(text) if f}
    if missing := sorted(fields - values.keys()):
        raise PromptError(f"{path}: unknown placeholder(s) {', '.join(missing)}")
    return text.format_map(values).strip()


def profile_values(profile: BusinessProfile) -> dict[str, Any]:
    return {
        "business_name": profile.name,
        "timezone": profile.timezone,
        "hours_text": profile.hours_text(),
        "services_text": ", ".join(s.name for s in desk(profile).services),
        "services_list": "\n".join(
            f"- {s.id}: {s.name}, {s.duration_minutes} minutes"
            + (f", {s.price}" if s.price else "")
            for s in desk(profile).services
        ),
        "facts_text": "\n".join(f"- {f}" for f in profile.facts) or "- (nothing else)",
    }


def static_prompt(
    name: str, profile: BusinessProfile, directory: Path | None = None, **extra: Any
) -> str:
    return _render(name, {**profile_values(profile), **extra}, directory)


def call_section(state: CallData) -> str:
    now = state.now().astimezone(state.profile.tz)
    if state.customer_name:
        caller = state.customer_name + (" (known customer)" if state.customer_id else "")
    else:
        caller = "name not known yet"
    if state.info.caller_number:
        caller += f", calling from {state.info.caller_number}"
    return _render(
        "shared_call",
        {
            "now_text": f"{now:%A %B %d %Y, %H:%M} ({state.profile.timezone})",
            "channel": state.info.channel.value,
            "caller_text": caller,
            "reason_text": state.reason or "not given yet",
            "changes_text": "; ".join(state.changes) or "nothing yet",
        },
        state.prompts_dir,
    )


def instructions(name: str, state: CallData, **extra: Any) -> str:
    static = static_prompt(name, state.profile, state.prompts_dir, **extra)
    return static + "\n\n" + call_section(state)


def sections(name: str, directory: Path | None) -> dict[str, str]:
    """`## key` sections of prompts/<name>.md (lines starting with `# ` are comments)."""
    path = (directory or _DEFAULT_DIR) / f"{name}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"prompt file {path} not found (set PROMPTS_DIR?)") from None
    out: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            out[current] = []
        elif current is not None and not line.startswith("# "):
            out[current].append(line)
    return {k: "\n".join(v).strip() for k, v in out.items()}


def fill(template: str, values: dict[str, Any], where: str) -> str:
    fields = {f for _, f, _, _ in Formatter().parse(template) if f}
    if missing := sorted(fields - values.keys()):
        raise PromptError(f"{where}: unknown placeholder(s) {', '.join(missing)}")
    return template.format_map(values).strip()


def outbound_opening(state: CallData) -> str:
    openings = sections("outbound_openings", state.prompts_dir)
    purpose = state.purpose or "custom"
    if purpose not in openings:
        raise PromptError(f"outbound_openings.md has no section '## {purpose}'")
    return fill(
        openings[purpose],
        {
            "business_name": state.profile.name,
            "customer_name": state.customer_name or "there",
            "appointment_text": state.appointment_text or "appointment",
            "custom_text": state.custom_text or "I'm calling with a quick question.",
        },
        f"outbound_openings.md ## {purpose}",
    )


def voicemail_message(state: CallData) -> str:
    purpose_text = {
        "reminder": f"upcoming {state.appointment_text or 'appointment'}",
        "confirm": state.appointment_text or "appointment",
    }.get(state.purpose or "", "account with us")
    callback = state.profile.phone or "the number you see on your phone"
    return _render(
        "voicemail",
        {
            "business_name": state.profile.name,
            "purpose_text": purpose_text,
            "callback_number": " ".join(callback),
        },
        state.prompts_dir,
    )

"""`SettingsError`: every problem with the settings, one plain sentence each."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from callcrew.redact import mask_urls


class SettingsError(Exception):
    """One or more settings are missing or invalid; `problems` holds one sentence per setting."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        lines = ["callcrew cannot start: fix these settings (environment or .env):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def describe_error(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ())) or "settings"
    msg = str(err.get("msg", "is invalid"))
    msg = msg.removeprefix("Value error, ")
    raw = err.get("input")
    shown = (
        ""
        if raw is None or isinstance(raw, dict) or "secret" in loc or "key" in loc
        else (f" (got {raw!r})")
    )
    return mask_urls(f"{loc.upper()}: {msg}{shown}")

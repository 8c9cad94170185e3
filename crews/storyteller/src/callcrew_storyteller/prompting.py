"""The storyteller's prompts (package files), filled with the call's values."""

from __future__ import annotations

from importlib import resources
from typing import Any


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(prompt: str, /, **values: Any) -> str:
    """prompts/<prompt>.md with `{key}` filled; an unknown key stays as written."""
    text = (
        resources.files("callcrew_storyteller").joinpath(f"prompts/{prompt}.md").read_text("utf-8")
    )
    return text.format_map(_Blank(values)).strip()

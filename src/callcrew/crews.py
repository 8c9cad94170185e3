"""Finds the crew by name, so the engine never imports `agents/` directly.

`CREW=default` names an entry point in the `callcrew.crews` group (pyproject.toml);
`CREW=package.module:OBJECT` loads any importable crew.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import cast

from callcrew.call import Crew

GROUP = "callcrew.crews"


class CrewNotFound(Exception):
    pass


def load_crew(name: str = "default") -> Crew:
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise CrewNotFound(f"CREW={name!r}: cannot load it ({exc})") from None
    else:
        found = {ep.name: ep for ep in entry_points(group=GROUP)}
        if name not in found:
            known = (
                ", ".join(sorted(found)) or "none (is callcrew installed with pip install -e .?)"
            )
            raise CrewNotFound(f"CREW={name!r}: no such crew; installed crews: {known}")
        obj = found[name].load()
    missing = [m for m in ("new_call", "first_agent", "voicemail_message") if not hasattr(obj, m)]
    if missing:
        raise CrewNotFound(f"CREW={name!r}: {obj!r} has no {', '.join(m + '()' for m in missing)}")
    return cast(Crew, obj)

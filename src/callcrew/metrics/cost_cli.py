"""`callcrew cost`: the monthly cost planner (placeholder until the planner lands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    pass

"""Module shape: every module of the engine, the crew and the benchmarks is small (~400 lines)
and says its job.

docs/architecture.md is the map; this keeps the territory readable: a module over the limit is
split by job, and each module's docstring opens with one line stating what it is for.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
ROOTS = (REPO / "src" / "callcrew", REPO / "agents", REPO / "bench")
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(p for root in ROOTS for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_the_roots_hold_modules() -> None:
    """The checks below are not vacuous: they see the engine, the crew and the benchmarks."""
    rels = {_rel(p) for p in _modules()}
    assert "src/callcrew/cli.py" in rels
    assert any(r.startswith("agents/") for r in rels)
    assert "bench/call_run.py" in rels


def test_no_module_is_over_the_limit() -> None:
    too_long = {
        _rel(p): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines (split them by job): " + ", ".join(
        f"{rel} ({n})" for rel, n in sorted(too_long.items())
    )


def test_every_module_states_its_job() -> None:
    missing = []
    for p in _modules():
        doc = ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"), filename=str(p)))
        if not doc or not doc.splitlines()[0].strip():
            missing.append(_rel(p))
    assert not missing, "modules without a docstring whose first line states their job: " + (
        ", ".join(missing)
    )

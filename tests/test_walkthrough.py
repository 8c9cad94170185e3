"""docs/crews.md's walkthrough works as written: every code block on the page that names a
file (```python title=PATH) is that file, byte for byte, and the walkthrough's scenario plays
green through `callcrew simulate` with the walkthrough's crew."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from callcrew.cli import app

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "crews.md"
BLOCK = re.compile(r"^```(\w+) title=(\S+)\n(.*?)^```$", re.S | re.M)
CREW = "examples.restaurant.crew:CREW"


def blocks() -> list[tuple[str, str]]:
    return [(path, body) for _, path, body in BLOCK.findall(DOC.read_text(encoding="utf-8"))]


@pytest.mark.unit
def test_the_walkthrough_shows_every_file_of_its_crew() -> None:
    shown = {path for path, _ in blocks()}
    shipped = {
        str(p.relative_to(REPO))
        for p in (REPO / "examples" / "restaurant").rglob("*")
        if p.suffix in (".py", ".yaml") and p.name != "__init__.py"
    }
    assert shown == shipped


@pytest.mark.unit
@pytest.mark.parametrize("path", [p for p, _ in blocks()])
def test_each_block_is_its_file(path: str) -> None:
    body = dict(blocks())[path]
    assert body == (REPO / path).read_text(encoding="utf-8"), f"docs/crews.md is stale: {path}"


@pytest.mark.rehearsal
def test_the_walkthrough_scenario_passes() -> None:
    scenario = REPO / "examples" / "restaurant" / "scenarios" / "pizza_order.yaml"
    result = CliRunner().invoke(
        app, ["simulate", str(scenario)], env={"COLUMNS": "1000", "CREW": CREW}
    )
    assert result.exit_code == 0, result.output
    assert "PASS pizza_order" in result.output
    assert "outcome order_placed" in result.output
    assert "'hawaiian' is not on the menu" in result.output


@pytest.mark.unit
def test_a_bad_menu_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "profile.yaml"
    bad.write_text(
        "name: X\ngreeting: Hi\nrestaurant:\n  menu:\n    - {id: Pizza!, name: P, price: -1}\n"
    )
    result = CliRunner().invoke(
        app,
        ["simulate", str(REPO / "examples/restaurant/scenarios/pizza_order.yaml")],
        env={"COLUMNS": "1000", "CREW": CREW, "BUSINESS_PROFILE": str(bad)},
    )
    assert result.exit_code == 2, result.output
    assert "restaurant.menu.0.id" in result.output and "restaurant.menu.0.price" in result.output
    assert "Traceback" not in result.output

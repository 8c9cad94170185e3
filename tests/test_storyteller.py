"""The storyteller crew (crews/storyteller): found by its entry point, its profile section
validated with the profile's errors, and its rehearsals green through `callcrew simulate`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from callcrew.cli import app
from callcrew.crews import load_crew
from callcrew.profile import ProfileError, load_profile, parse_profile
from callcrew.simulate.scenario import expand_paths

REPO = Path(__file__).resolve().parents[1]
CREW_DIR = REPO / "crews" / "storyteller"
SCENARIOS = expand_paths([CREW_DIR / "scenarios"])
runner = CliRunner()


def simulate(*args: object) -> Any:
    env = {"COLUMNS": "1000", "CREW": "storyteller"}
    return runner.invoke(app, ["simulate", *(str(a) for a in args)], env=env)


# --- the crew as the engine sees it -----------------------------------------------------------


@pytest.mark.unit
def test_the_entry_point_names_a_crew_with_its_own_domain() -> None:
    crew = load_crew("storyteller")
    assert crew.name == "storyteller"
    assert [o.name for o in crew.outcomes] == ["story_told", "no_story"]
    assert "story_told" in crew.outcome_names() and "completed" in crew.outcome_names()
    assert crew.profile_section is not None and crew.profile_section.key == "story"
    assert crew.tables is not None and crew.tables.branch == "storyteller"
    assert sorted(crew.tables.metadata.tables) == ["stories_told"]
    assert (crew.tables.migrations / "0001_stories_told.py").is_file()


@pytest.mark.unit
def test_loading_it_does_not_import_the_agent_framework() -> None:
    code = (
        "import sys; from callcrew.crews import load_crew; load_crew('storyteller'); "
        "print('livekit.agents' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.unit
def test_its_default_profile_carries_the_story_section() -> None:
    profile = load_profile(None, "storyteller")
    from callcrew_storyteller.section import StorySection

    section = profile.section_as(StorySection)
    assert section.storyteller == "Echo" and len(section.themes) == 3
    story = section.agents["story"]
    assert story.llm == "openai/gpt-4.1-mini" and story.tts == "elevenlabs/eleven_flash_v2_5"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("story", "line"),
    [
        ({"themes": []}, "story.themes"),
        ({"length": "epic"}, "story.length"),
        ({"agents": {"narrator": {}}}, "story.agents.narrator"),
        ({"agents": {"story": {"llm": "acme/big"}}}, "unknown provider 'acme'"),
        ({"agents": {"story": {"tts": "eleven"}}}, "write it as provider/model"),
        ({"colour": "blue"}, "story.colour"),
    ],
)
def test_a_bad_story_section_is_a_clear_line(story: dict[str, Any], line: str) -> None:
    data = {"name": "Story Line", "greeting": "Hello!", "story": story}
    with pytest.raises(ProfileError) as err:
        parse_profile(data, "story.yaml", "storyteller")
    assert line in str(err.value)
    assert "Traceback" not in str(err.value)


# --- its table, beside the engine's -----------------------------------------------------------


@pytest.mark.unit
def test_its_branch_migrates_beside_the_engines_and_matches_its_models(db_url: str) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import inspect

    from callcrew.store import open_store
    from callcrew.store.migrate import status
    from callcrew_storyteller.tables import TABLES, StoryTold, record_story, stories

    with open_store(db_url, crew="storyteller") as store:
        # Two owners of one schema: each branch at its own head, in one database.
        assert status(store.engine, [TABLES]) == [
            ("callcrew", "callcrew_0001", "callcrew_0001"),
            ("storyteller", "storyteller_0001", "storyteller_0001"),
        ]
        found = {c["name"]: c for c in inspect(store.engine).get_columns("stories_told")}
        for column in StoryTold.__table__.columns:  # what the migration made = the models
            assert column.name in found, column.name
            length = getattr(column.type, "length", None)
            assert getattr(found[column.name]["type"], "length", None) == length, column.name
        assert set(found) == {c.name for c in StoryTold.__table__.columns}
        row = record_story(
            store.engine,
            call_id="call_1",
            listener="Ada",
            location="Lisbon",
            theme="a very polite dragon",
            title="T" * 500,  # cut to its column, not refused: the story was told
            told_at=datetime.now(UTC),
        )
        assert row == 1 and stories(store.engine)[0]["title"] == "T" * 120
    with open_store(db_url, crew="storyteller") as again:  # upgrading twice changes nothing
        assert len(stories(again.engine)) == 1


@pytest.mark.unit
def test_the_desk_and_the_storyteller_share_one_store(tmp_path: Path) -> None:
    from sqlalchemy import inspect

    from callcrew.store import open_store

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    for crew in ("default", "storyteller", "default"):  # CREW changes; nothing is refused
        open_store(url, crew=crew).close()
    with open_store(url, crew="storyteller") as store:
        tables = set(inspect(store.engine).get_table_names())
    assert {"call_reports", "outbox", "appointments", "customers", "stories_told"} <= tables


# --- rehearsals --------------------------------------------------------------------------------


@pytest.mark.rehearsal
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_storyteller_scenario_passes(path: Path) -> None:
    result = simulate(path, "-q")
    assert result.exit_code == 0, result.output
    assert f"PASS {path.stem}" in result.output


@pytest.mark.rehearsal
def test_the_story_agent_is_reported_and_priced_on_its_own(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = simulate(CREW_DIR / "scenarios" / "ada_in_lisbon.yaml", "-q", "--report", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    report = data[0] if isinstance(data, list) else data
    assert report["outcome"] == "story_told"
    assert report["crew"]["listener"] == "Ada" and report["crew"]["location"] == "Lisbon"
    agents = {a["agent"]: a for a in report["agents"]}
    assert agents["story"]["overrides"]["tts"] == "elevenlabs/eleven_flash_v2_5"
    assert agents["intro"]["overrides"] == {}
    # The replayed tokens belong to the agent that produced them, and add up to the call's.
    for kind_total in (r for r in report["usage"] if r["kind"] == "llm"):
        per_agent = sum(
            u["output_tokens"] for a in report["agents"] for u in a["usage"] if u["kind"] == "llm"
        )
        assert per_agent == kind_total["output_tokens"]
    cost = {a["agent"]: a for a in report["cost"]["agents"]}
    assert cost["story"]["models"]["tts"] == "elevenlabs/business"
    assert cost["intro"]["models"]["tts"] == "cartesia/sonic"
    assert report["cost"]["tts"] == pytest.approx(cost["intro"]["tts"] + cost["story"]["tts"])

"""The rehearsal layer on both store back ends: every scenario in tests/scenarios, its booking
transactions, caller-ID lookups and report, on SQLite and on a real Postgres (conftest's
`db_url`). Audio scenarios are the audio layer's (tests/test_audio_rehearsal.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcrew.settings import load_settings
from callcrew.simulate.runner import run_scenario
from callcrew.simulate.scenario import expand_paths, load_scenarios
from callcrew.store import open_store

pytestmark = pytest.mark.rehearsal

# The folder as `callcrew simulate tests/scenarios` sees it (profiles beside them are skipped).
SCENARIOS = [
    p
    for p in expand_paths([Path(__file__).parent / "scenarios"])
    if not p.name.startswith("audio_")
]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_every_scenario_passes_on_this_back_end(path: Path, db_url: str) -> None:
    reports_url = db_url  # the same back end keeps the reports too
    for scenario in load_scenarios(path):
        result = await run_scenario(
            scenario, load_settings(), store_url=db_url, database_url=reports_url
        )
        assert result.passed, result.failures
        with open_store(db_url, read_only=True) as store:
            saved = store.reports.get(result.report["call_id"])
        assert saved is not None and saved["outcome"] == result.report["outcome"]

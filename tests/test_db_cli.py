"""`callcrew db status | upgrade`: each owner's revision, and bringing an old store up."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from callcrew.cli import app
from tests.test_store import _old_store

pytestmark = pytest.mark.unit

runner = CliRunner()


def test_status_of_a_new_store_is_up_to_date(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    made = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert made.exit_code == 0, made.output
    result = runner.invoke(app, ["db", "status", "--database-url", url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "callcrew",
        "callcrew_0001",
        "head",
        "callcrew_0001",
        "up",
        "to",
        "date",
    ]
    assert lines[1].split()[:2] == ["desk", "desk_0001"]


def test_an_old_store_needs_an_upgrade_and_gets_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _old_store(url)
    before = runner.invoke(app, ["db", "status", "--database-url", url])
    assert before.exit_code == 1 and before.output.count("needs upgrade") == 2, before.output
    assert runner.invoke(app, ["db", "upgrade", "--database-url", url]).exit_code == 0
    after = runner.invoke(app, ["db", "status", "--database-url", url])
    assert after.exit_code == 0 and "needs upgrade" not in after.output


def test_status_of_no_store_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    result = runner.invoke(app, ["db", "status", "--database-url", f"sqlite:///{missing}"])
    assert result.exit_code == 1 and "No store at" in result.output
    assert "Traceback" not in result.output and not missing.exists()

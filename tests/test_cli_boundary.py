"""cli_boundary: `--database-url` wins over DATABASE_URL; bad input is one masked line + exit."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from callcrew.cli_boundary import command_group, fail, settings_or_exit

pytestmark = pytest.mark.unit


def test_fail_prints_one_masked_line_on_stderr_and_gives_the_exit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    exit_ = fail("Cannot open the store at postgres://admin:PW@db/x: refused [a-z]", 1)
    assert isinstance(exit_, typer.Exit) and exit_.exit_code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "Cannot open the store at postgres://admin:***@db/x: refused [a-z]\n"
    assert fail("no such call").exit_code == 2  # bad input unless told


def test_the_option_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from-env.db")
    assert settings_or_exit(None).database_url == "sqlite:///from-env.db"
    assert settings_or_exit("sqlite:///given.db").database_url == "sqlite:///given.db"


def test_bad_settings_exit_2_naming_each_problem(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STACK", "gold")
    with pytest.raises(typer.Exit) as raised:
        settings_or_exit("postgres://admin:PW@db/x")
    assert raised.value.exit_code == 2
    err = capsys.readouterr().err
    assert err.startswith("callcrew cannot start: fix these settings (environment or .env):\n")
    assert "STACK" in err and "'gold'" in err and "PW" not in err


def test_a_command_group_called_bare_prints_its_help() -> None:
    group = command_group("things", "Things: list them.")

    @group.command("list")
    def _list() -> None:
        typer.echo("listed")

    @group.command("count")
    def _count() -> None:
        typer.echo("0")

    bare = CliRunner().invoke(group, [])
    assert "Things: list them." in bare.output and "count" in bare.output
    assert CliRunner().invoke(group, ["list"]).output == "listed\n"

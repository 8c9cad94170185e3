"""Commands that need no worker never import LiveKit's agent framework (issue 16, item 5).

The start time itself is a figure for bench/startup.py and docs/benchmarks.md; what a test can
check, and what breaks when someone adds a top-level import, is which modules got imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from callcrew.cli import COMMANDS, app
from callcrew.lazycli import LazyGroup
from callcrew.store import open_store

pytestmark = pytest.mark.unit

# Run in a fresh interpreter: this test process has long since imported livekit.agents.
_CHILD = r"""
import json, sys
from typer.testing import CliRunner
import callcrew.cli

runner = CliRunner()
seen = {}
for args in json.loads(sys.argv[1]):
    if args[0] == "import":  # the probe's own control: a module known to need the framework
        __import__(args[1])
    result = runner.invoke(callcrew.cli.app, ["--help"] if args[0] == "import" else args)
    heavy = sorted(m for m in sys.modules if m.startswith(("livekit.agents", "livekit.plugins")))
    seen[" ".join(args)] = {
        "exit": result.exit_code, "heavy": heavy[:3], "out": result.output[-300:]
    }
print(json.dumps(seen))
"""

# (arguments, expected exit code): each run in the same child, in this order, so a command that
# leaks the framework is named by the first entry that shows it.
_LIGHT: list[tuple[list[str], int]] = [
    (["--help"], 0),
    (["cost"], 0),
    (["cost", "--stack", "premium", "--json"], 0),
    (["calls", "--help"], 0),
    (["calls", "list"], 0),
    (["calls", "stats"], 0),
    (["outbox", "--help"], 0),
    (["db", "status"], 0),
    (["sip", "--help"], 0),
    (["token", "--help"], 0),
    (["dial", "--help"], 0),
    (["dashboard", "--help"], 0),
    (["simulate", "--help"], 0),
    (["simulate", "no-such-scenario.yaml"], 2),
]


def _run_child(tmp_path: Path, runs: list[list[str]]) -> dict[str, dict[str, object]]:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    with open_store(url):  # an empty store, as a worker leaves it: `calls` reads and prints it
        pass
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(runs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,  # a hung child, not a speed limit
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_commands_without_a_worker_do_not_import_the_agent_framework(tmp_path: Path) -> None:
    seen = _run_child(tmp_path, [args for args, _ in _LIGHT])
    for args, code in _LIGHT:
        run = seen[" ".join(args)]
        assert run["exit"] == code, (args, run["out"])
        assert run["heavy"] == [], f"`callcrew {' '.join(args)}` imported {run['heavy']}"


def test_the_check_sees_a_command_that_needs_the_framework(tmp_path: Path) -> None:
    # The same probe after importing the rehearsal runner: it must see the framework, or the
    # test above could pass by never looking.
    seen = _run_child(tmp_path, [["import", "callcrew.simulate.runner"]])
    assert "livekit.agents" in seen["import callcrew.simulate.runner"]["heavy"]


def _loaded_group() -> LazyGroup:
    group = typer.main.get_group(app)
    assert isinstance(group, LazyGroup)
    for name in COMMANDS:
        group.load(name)
    return group


def test_listed_help_is_each_commands_own() -> None:
    group = _loaded_group()
    assert set(group.commands) == set(COMMANDS), "a module registers a command cli.py lacks"
    for name, lazy in COMMANDS.items():
        real = group.commands[name]
        first = " ".join((real.help or "").split("\n\n")[0].split())
        assert first == lazy.help, f"cli.py lists {name!r} with other help than its module's"


def test_a_command_runs_from_its_module_when_resolved() -> None:
    result = CliRunner().invoke(app, ["cost", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["total_usd"] > 0


def test_a_misspelt_command_is_suggested_before_any_module_loads() -> None:
    result = CliRunner().invoke(app, ["simulat"])
    assert result.exit_code == 2
    assert "simulate" in result.output

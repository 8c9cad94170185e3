"""`callcrew calls`: list, show, export and stats over a real store, through the real CLI app.

The store holds hand-made reports (live-call figures, known times) plus one report from a real
rehearsal (`run_scenario`), so the commands are tried on exactly what the worker and the
simulator write.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from callcrew.cli import app
from callcrew.metrics import csv_export
from callcrew.settings import Settings
from callcrew.simulate.runner import run_scenario
from callcrew.simulate.scenario import load_scenario
from callcrew.store import open_store

pytestmark = pytest.mark.unit

SCENARIO = Path(__file__).parent / "scenarios" / "book_then_move.yaml"
NOW = datetime.now(UTC).replace(microsecond=0)

runner = CliRunner()


def calls(*args: object, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(
        app, ["calls", *(str(a) for a in args)], env={"COLUMNS": "250", **(env or {})}
    )


def live_report(
    call_id: str,
    *,
    age: timedelta,
    outcome: str = "booked",
    channel: str = "inbound",
    caller: str | None = "+15550142233",
    stack: str = "economy",
    e2e: tuple[float, ...] = (1.1, 0.9, 1.3),
) -> dict[str, Any]:
    started = NOW - age
    turns: list[dict[str, Any]] = [
        {
            "index": 0,
            "first": True,
            "text": "Hello, Maple Street Salon.",
            "end_of_turn_delay": None,
            "transcription_delay": None,
            "llm_node_ttft": None,
            "tts_node_ttfb": None,
            "e2e_latency": None,
            "llm_tokens_per_s": None,
            "interrupted": False,
            "true_wait_s": None,
        }
    ]
    transcript: list[dict[str, Any]] = [
        {"role": "agent", "text": "Hello, Maple Street Salon.", "time": started.isoformat()}
    ]
    for i, value in enumerate(e2e, start=1):
        at = started + timedelta(seconds=5 * i)
        transcript.append({"role": "caller", "text": f"caller line {i}", "time": at.isoformat()})
        if i == 1:
            transcript.append(
                {
                    "role": "tool_call",
                    "name": "find_free_slots",
                    "arguments": '{"service": "haircut"}',
                    "time": at.isoformat(),
                }
            )
            transcript.append(
                {
                    "role": "tool_result",
                    "name": "find_free_slots",
                    "output": "2026-06-16T09:30: Tuesday at 9:30 am",
                    "is_error": False,
                    "time": at.isoformat(),
                }
            )
        text = f"agent reply {i}"
        transcript.append(
            {"role": "agent", "text": text, "time": (at + timedelta(seconds=1)).isoformat()}
        )
        turns.append(
            {
                "index": i,
                "first": False,
                "text": text,
                "end_of_turn_delay": 0.5,
                "transcription_delay": 0.05,
                "llm_node_ttft": round(value - 0.7, 3),
                "tts_node_ttfb": 0.4,
                "e2e_latency": value,
                "llm_tokens_per_s": 40.0,
                "interrupted": False,
                "true_wait_s": round(value + 0.1, 3) if i == 1 else None,
            }
        )
    return {
        "version": 1,
        "call_id": call_id,
        "room": f"room-{call_id}",
        "channel": channel,
        "caller_number": caller,
        "dialled_number": "+15559990000",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(seconds=150)).isoformat(),
        "duration_s": 150.0,
        "stack": stack,
        "outcome": outcome,
        "ended_by": "agent",
        "agents_visited": ["intro", "appointments", "wrapup"],
        "transcript": transcript,
        "turns": turns,
        "usage": [
            {
                "kind": "llm",
                "provider": "openai",
                "model": "gpt-4.1-mini",
                "input_tokens": 5200,
                "cached_input_tokens": 4096,
                "output_tokens": 160,
            },
            {"kind": "stt", "provider": "deepgram", "model": "nova-3", "audio_s": 70.0},
        ],
        "cost": {
            "livekit": 0.025,
            "stt": 0.0054,
            "llm": 0.0021,
            "tts": 0.03,
            "telephony": 0.0213,
            "total": 0.0838,
            "llm_by_model": {"openai/gpt-4.1-mini": 0.0021},
            "catalog": "current",
            "stack": stack,
            "estimated": False,
            "minutes": 2.5,
        },
        "errors": [],
        "crew": {"customer_name": "Dana Whitfield"},
    }


@pytest.fixture
async def rehearsed() -> dict[str, Any]:
    result = await run_scenario(load_scenario(SCENARIO), Settings())
    assert result.passed, result.failures
    return result.report


@pytest.fixture
def db(tmp_path: Path, rehearsed: dict[str, Any]) -> str:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    store = open_store(url)
    try:
        store.reports.save(live_report("call_recent", age=timedelta(hours=1)))
        store.reports.save(
            live_report(
                "call_web",
                age=timedelta(hours=3),
                channel="web",
                caller=None,
                outcome="message_taken",
                e2e=(0.8,),
            )
        )
        store.reports.save(
            live_report(
                "call_old",
                age=timedelta(days=10),
                outcome="cancelled",
                caller="+15557654321",
                stack="premium",
                e2e=(2.0, 1.0),
            )
        )
        store.reports.save(rehearsed)
    finally:
        store.close()
    return url


# --- list ------------------------------------------------------------------------------------


def test_list_newest_first_with_masked_numbers(db: str, rehearsed: dict[str, Any]) -> None:
    result = calls("list", "--database-url", db)
    assert result.exit_code == 0, result.output
    out = result.output
    for header in ("started (UTC)", "call id", "channel", "caller", "duration", "outcome"):
        assert header in out
    order = [out.index(c) for c in (rehearsed["call_id"], "call_recent", "call_web", "call_old")]
    assert order == sorted(order)
    assert "+1555***2233" in out and "+1555***4321" in out
    assert "+15550142233" not in out and "+15557654321" not in out
    line = next(line for line in out.splitlines() if "call_recent" in line)
    assert "$0.0838" in line and "2:30" in line and "1.10 s" in line and "booked" in line
    rehearsal_line = next(line for line in out.splitlines() if rehearsed["call_id"] in line)
    assert "~$" in rehearsal_line  # estimated from the words spoken
    assert "4 calls" in out


def test_list_filters(db: str, rehearsed: dict[str, Any]) -> None:
    recent = calls("list", "--since", "24h", "--database-url", db)
    assert recent.exit_code == 0
    assert "call_recent" in recent.output and "call_web" in recent.output
    assert "call_old" not in recent.output

    dated = (NOW - timedelta(days=20)).date().isoformat()
    assert "call_old" in calls("list", "--since", dated, "--database-url", db).output

    web = calls("list", "--channel", "WEB", "--database-url", db)
    assert "call_web" in web.output and "call_recent" not in web.output

    cancelled = calls("list", "--outcome", "cancelled", "--database-url", db)
    assert "call_old" in cancelled.output and "call_recent" not in cancelled.output

    one = calls("list", "--limit", "1", "--database-url", db)
    assert rehearsed["call_id"] in one.output and "call_recent" not in one.output
    assert "--limit reached" in one.output

    none = calls("list", "--outcome", "voicemail", "--database-url", db)
    assert none.exit_code == 0 and "No calls match (outcome voicemail)" in none.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--since", "yesterday"], "--since"),
        (["--since", "0d"], "--since"),
        (["--outcome", "great"], "--outcome"),
        (["--channel", "fax"], "--channel"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_list_refuses_bad_options(db: str, args: list[str], needle: str) -> None:
    result = calls("list", *args, "--database-url", db)
    assert result.exit_code == 2
    assert needle in result.output


def test_a_refused_value_never_echoes_a_url_password(db: str) -> None:
    """A database URL pasted into the wrong option is quoted back with its password masked."""
    result = calls("list", "--channel", "postgres://u:PW@h/db", "--database-url", db)
    assert result.exit_code == 2
    assert "--channel" in result.output and "u:PW@" not in result.output


def test_missing_store_says_so_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "calls.db"
    for command in ("list", "stats", "export"):
        result = calls(command, "--database-url", f"sqlite:///{missing}")
        assert result.exit_code == 2, result.output
        assert f"No store at {missing}" in result.output
        assert "No calls recorded yet" not in result.output
    assert not missing.parent.exists()  # reading never creates a database


def test_relative_default_from_another_folder_names_the_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = calls("list", env={"DATABASE_URL": "sqlite:///var/callcrew.db"})
    assert result.exit_code == 2
    assert f"No store at {tmp_path / 'var' / 'callcrew.db'}" in result.output
    assert "relative to the current folder" in result.output


def test_empty_store_is_friendly(tmp_path: Path) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    open_store(empty).close()
    for command in ("list", "stats"):
        result = calls(command, "--database-url", empty)
        assert result.exit_code == 0 and "No calls recorded yet" in result.output
    exported = calls("export", "--database-url", empty)
    assert exported.exit_code == 0 and json.loads(exported.stdout) == []


def test_reading_neither_migrates_nor_waits_for_a_writer(db: str, tmp_path: Path) -> None:
    import sqlite3

    path = db.removeprefix("sqlite:///")
    before = Path(path).read_bytes()
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        # A worker in the middle of a write: holds the write lock, as BEGIN IMMEDIATE does.
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM call_reports WHERE 0")
        for command in ("list", "stats"):
            result = calls(command, "--database-url", db)
            assert result.exit_code == 0, result.output
        assert "call_recent" in calls("list", "--database-url", db).output
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert Path(path).read_bytes() == before


def test_a_file_that_is_not_a_store_is_named(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    import sqlite3

    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    result = calls("list", "--database-url", f"sqlite:///{other}")
    assert result.exit_code == 2
    assert f"{other} holds no callcrew store" in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--limit", "99999999999999999999"], "--limit"),
        (["--since", "99999999999999d"], "before the year 1"),
        (["--since", "0001-01-01T00:00+05:00"], "before the year 1 in UTC"),
        (["--since", "[bold]x[/x] [a-z0-9]"], "[a-z0-9]"),
    ],
)
def test_out_of_range_filters_exit_2(db: str, args: list[str], needle: str) -> None:
    result = calls("list", *args, "--database-url", db)
    assert result.exit_code == 2, result.output
    assert needle in " ".join(result.output.replace("│", " ").split())
    assert "Traceback" not in result.output


def test_reads_database_url_from_the_environment(db: str) -> None:
    result = calls("list", env={"DATABASE_URL": db})
    assert result.exit_code == 0 and "call_recent" in result.output


def test_bad_database_url_exits_2(db: str) -> None:
    result = calls("list", "--database-url", "mysql://db/calls")
    assert result.exit_code == 2
    assert "DATABASE_URL" in result.output


# --- show ------------------------------------------------------------------------------------


def test_show_a_call(db: str) -> None:
    result = calls("show", "call_recent", "--database-url", db)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "call_recent" in out and "booked" in out and "+1555***2233" in out
    assert "+15550142233" not in out
    lines = out.splitlines()
    reply = next(i for i, line in enumerate(lines) if "agent reply 1" in line)
    timing = lines[reply + 1]
    assert "e2e 1.10 s" in timing and "true wait 1.20 s" in timing
    assert "llm ttft 0.40 s" in timing and "tts ttfb 0.40 s" in timing
    assert (
        "first turn" in lines[next(i for i, line in enumerate(lines) if "Hello, Maple" in line) + 1]
    )
    assert "caller line 1" in out and "-> find_free_slots" in out
    assert "0:05.0" in out  # time into the call
    assert "VAD" in out  # e2e is labelled as LiveKit's
    assert "gpt-4.1-mini: 5200 input tokens (4096 cached), 160 output" in out
    assert "$0.083800" in out and "telephony" in out and "measured usage" in out
    assert "Dana Whitfield" in out


def test_show_unmask(db: str) -> None:
    result = calls("show", "call_recent", "--unmask", "--database-url", db)
    assert "+15550142233" in result.output


def test_show_a_rehearsal(db: str, rehearsed: dict[str, Any]) -> None:
    result = calls("show", rehearsed["call_id"], "--database-url", db)
    assert result.exit_code == 0, result.output
    assert "booked" in result.output  # book then move the new booking: net effect booked
    assert "=> intro -> appointments" in result.output  # the names agents_visited uses
    assert "estimated from the words spoken" in result.output
    assert "llm ttft" in result.output


def test_show_unknown_call(db: str) -> None:
    result = calls("show", "call_nope", "--database-url", db)
    assert result.exit_code == 1
    assert "No call with id 'call_nope'" in result.output


# --- export ----------------------------------------------------------------------------------


def test_export_json_is_the_full_reports(db: str, rehearsed: dict[str, Any]) -> None:
    result = calls("export", "--format", "json", "--database-url", db)
    assert result.exit_code == 0
    reports = json.loads(result.stdout)
    assert len(reports) == 4
    assert reports[0]["call_id"] == rehearsed["call_id"]
    assert reports[0] == json.loads(json.dumps(rehearsed))


def test_export_csv_to_a_file(db: str, tmp_path: Path) -> None:
    target = tmp_path / "calls.csv"
    result = calls(
        "export", "--format", "csv", "--output", target, "--since", "7d", "--mask-numbers",
        "--database-url", db,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Wrote 3 calls" in result.output
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 3
    assert list(rows[0]) == list(csv_export.CSV_COLUMNS)
    recent = next(r for r in rows if r["call_id"] == "call_recent")
    assert recent["caller_number"] == "+1555***2233"
    assert recent["cost_total"] == "0.0838" and recent["e2e_p50_s"] == "1.1"
    assert recent["llm_input_tokens"] == "5200" and recent["outcome"] == "booked"


def test_export_refuses_an_unknown_format(db: str) -> None:
    result = calls("export", "--format", "xml", "--database-url", db)
    assert result.exit_code == 2


# --- stats -----------------------------------------------------------------------------------


def test_stats(db: str) -> None:
    result = calls("stats", "--database-url", db)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "4 calls" in out
    # The rehearsal books then moves its new booking: booked (net effect), not rescheduled.
    assert "booked 2" in out and "cancelled 1" in out and "rescheduled" not in out
    assert "per hour of call time" in out
    assert "first p50" in out and "later p95" in out
    assert "e2e (LiveKit, VAD anchor)" in out and "true wait" in out
    # The seed-format table, one row per stack.
    assert "TTFT first" in out and "first byte (e2e)" in out
    economy = next(line for line in out.splitlines() if line.strip("│┃ ").startswith("economy "))
    # TTFT first (0.4 and 0.1), TTFT next (0.2, 0.6), e2e over all turns.
    assert "0.10-0.40" in economy and "0.20-0.60" in economy and "0.80-1.30" in economy
    assert "--stack NAME" in out  # mixed stacks are pointed out
    assert "measured vs planned per call" in out


def test_stats_json_and_filters(db: str) -> None:
    result = calls("stats", "--json", "--stack", "economy", "--since", "24h", "--database-url", db)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["calls"] == 2
    assert data["outcomes"] == {"booked": 1, "message_taken": 1}
    e2e = data["latency"]["e2e_latency"]
    assert e2e["first"]["n"] == 2 and e2e["first"]["p50"] == pytest.approx(0.95)
    assert e2e["later"]["n"] == 2 and e2e["later"]["p95"] == pytest.approx(1.28)
    assert data["cost_per_hour"] == pytest.approx(0.0838 * 2 / (5 / 60))
    assert [row["stack"] for row in data["by_stack"]] == ["economy"]
    # measured vs planned (issue 20): one entry per priced stack, a line per component
    for check in data["vs_plan"]:
        assert [line["component"] for line in check["lines"]] == [
            "livekit", "stt", "llm", "tts", "telephony"
        ]  # fmt: skip
        assert {"measured_per_call", "planned_per_call", "measured_per_minute"} <= set(check)


def test_stats_empty_match(db: str) -> None:
    result = calls("stats", "--outcome", "voicemail", "--database-url", db)
    assert result.exit_code == 0 and "No calls match" in result.output

"""Property tests (hypothesis): whatever the arguments or file contents, every `callcrew`
entry point ends in exit 0, 1 or 2 — never a traceback. Each example runs the real Typer app
in-process (CliRunner), so a traceback shows up as an exception that is not SystemExit.

Example counts are modest so the unit layer stays fast; CI runs the `ci` profile (more
examples), chosen with HYPOTHESIS_PROFILE=ci (scripts/test sets it when CI=true).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from callcrew.cli import app

pytestmark = pytest.mark.unit

settings.register_profile(
    "dev",
    max_examples=15,
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("ci", parent=settings.get_profile("dev"), max_examples=25)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

LIVEKIT = {"LIVEKIT_URL": "ws://127.0.0.1:1", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s"}
SCENARIO = Path(__file__).parent / "scenarios" / "new_booking_web.yaml"
runner = CliRunner()

# Text that has broken parsers before: huge and tiny numbers, non-ASCII digits, markup,
# URLs with passwords, control characters, plus anything at all.
NASTY = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "1e25",
        "1e300",
        "-1e300",
        "inf",
        "-inf",
        "nan",
        "1e-300",
        "99999999999999999999",
        "99999999999999d",
        "0001-01-01T00:00+05:00",
        "9999-12-31T23:59:59",
        "١٢",
        "²",
        "1_000",
        "[bold]",
        "[/]",
        "[a-z0-9]",
        "\x00",
        "postgres://u:PW@h/db",
        "http://[::1",
        "{}",
        '{"a": [1]}',
        "-" * 3,
        "--help",
    ]
)
TEXT = st.one_of(NASTY, st.text(max_size=40))
NUMBER_TEXT = st.one_of(
    NASTY,
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, args, env={"COLUMNS": "200", **(env or {})})


def assert_no_traceback(result: Result) -> None:
    exc = result.exception
    assert exc is None or isinstance(exc, SystemExit), f"traceback for {exc!r}:\n{result.output}"
    assert result.exit_code in (0, 1, 2), result.output
    # A URL's password never echoes (a key that merely looks like "u:PW@" is not a URL).
    assert "://u:PW@" not in result.output


def options(pairs: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[list[str]]:
    """Some of these options, each with a drawn value, in a drawn order."""
    chosen = st.lists(st.sampled_from(sorted(pairs)), unique=True, max_size=4)
    return chosen.flatmap(
        lambda names: (
            st.tuples(*(pairs[n] for n in names)).map(
                lambda values: [x for n, v in zip(names, values, strict=True) for x in (n, v)]
            )
            if names
            else st.just([])
        )
    )


COST = {
    name: NUMBER_TEXT
    for name in (
        "--agents",
        "--calls-per-day",
        "--days",
        "--call-minutes",
        "--agent-talk-share",
        "--turns",
        "--system-prompt-tokens",
        "--input-tokens",
        "--output-tokens",
        "--calls-per-hour",
        "--discount",
        "--tts-chars-per-minute",
    )
}
COST["--stack"] = TEXT


@given(args=options(COST), as_json=st.booleans())
def test_cost_arguments(args: list[str], as_json: bool) -> None:
    assert_no_traceback(run(["cost", *args, *(["--json"] if as_json else [])]))


CALLS = {"--since": TEXT, "--limit": NUMBER_TEXT, "--outcome": TEXT, "--channel": TEXT}


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    from callcrew.store import open_store

    url = f"sqlite:///{tmp_path / 'calls.db'}"
    open_store(url).close()
    return url


@given(command=st.sampled_from(["list", "stats", "export"]), args=options(CALLS))
def test_calls_arguments(store_url: str, command: str, args: list[str]) -> None:
    assert_no_traceback(run(["calls", command, *args, "--database-url", store_url]))


@given(call_id=TEXT, database_url=st.one_of(st.none(), TEXT))
def test_calls_show_and_database_urls(
    store_url: str, call_id: str, database_url: str | None
) -> None:
    url = store_url if database_url is None else database_url
    assert_no_traceback(run(["calls", "show", call_id or "x", "--database-url", url or "x"]))


TOKEN = {"--room": TEXT, "--ttl": NUMBER_TEXT, "--identity": TEXT, "--name": TEXT}


@given(args=options(TOKEN))
def test_token_arguments(args: list[str]) -> None:
    assert_no_traceback(run(["token", *args], env=LIVEKIT))


DIAL = {
    "--purpose": TEXT,
    "--appointment": NUMBER_TEXT,
    "--metadata": st.one_of(
        TEXT, st.recursive(st.just("1"), lambda s: s.map(lambda x: f'{{"a":{x}}}'), max_leaves=20)
    ),
    "--region": TEXT,
}


@given(number=TEXT, args=options(DIAL))
def test_dial_arguments(number: str, args: list[str]) -> None:
    assert_no_traceback(run(["dial", number or "+1", "--dry-run", *args], env=LIVEKIT))


@given(
    env=st.dictionaries(
        st.sampled_from(
            [
                "LIVEKIT_URL",
                "DATABASE_URL",
                "LLM_BASE_URL",
                "LOG_LEVEL",
                "STACK",
                "PRICES_FILE",
                "CRM_WEBHOOK_URL",
                "MAX_CALL_SECONDS",
                "AGENT_NAME",
            ]
        ),
        TEXT,
        max_size=3,
    )
)
def test_settings_from_the_environment(env: dict[str, str]) -> None:
    clean = {k: v.replace("\x00", "") for k, v in env.items()}
    assert_no_traceback(run(["calls", "list"], env=clean))


# --- file loaders: random bytes, random YAML, and a real file with one value swapped --------

YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
FILE_BYTES = st.one_of(
    st.binary(max_size=200),
    YAML_VALUES.map(lambda v: yaml.safe_dump(v).encode()),
)


def mutated_scenario() -> st.SearchStrategy[bytes]:
    base = yaml.safe_load(SCENARIO.read_text())
    keys = st.sampled_from(
        ["now", "caller", "channel", "replay", "data", "profile", "turns", "expect", "name", "task"]
    )

    def swap(pair: tuple[str, Any]) -> bytes:
        data = dict(base)
        data[pair[0]] = pair[1]
        return yaml.safe_dump(data).encode()

    return st.tuples(keys, YAML_VALUES).map(swap)


@given(content=st.one_of(FILE_BYTES, mutated_scenario()))
def test_scenario_files(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "s.yaml").write_bytes(content)
    assert_no_traceback(run(["simulate", "-q", "s.yaml"]))


@given(content=FILE_BYTES)
def test_sip_yaml_files(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "sip.yaml").write_bytes(content)
    assert_no_traceback(run(["sip", "apply", "--dry-run", "-f", "sip.yaml"], env=LIVEKIT))


@given(content=FILE_BYTES)
def test_profile_files(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "p.yaml").write_bytes(content)
    data = yaml.safe_load(SCENARIO.read_text())
    data["profile"] = "p.yaml"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    assert_no_traceback(run(["simulate", "-q", "s.yaml"]))


@given(content=FILE_BYTES)
def test_price_files(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "prices.yaml").write_bytes(content)
    assert_no_traceback(run(["cost", "--prices", str(tmp_path / "prices.yaml")]))


@given(
    content=st.one_of(
        st.binary(max_size=200),
        st.lists(
            st.tuples(
                st.sampled_from(["LOG_LEVEL", "DATABASE_URL", "LIVEKIT_URL", "STACK", "X"]), TEXT
            ).map(lambda kv: f"{kv[0]}={kv[1]}"),
            max_size=4,
        ).map(lambda ls: "\n".join(ls).encode()),
    )
)
def test_dotenv_files(tmp_path: Path, content: bytes) -> None:
    (tmp_path / ".env").write_bytes(content)
    assert_no_traceback(run(["calls", "list"]))


@given(
    rows=st.lists(st.lists(st.one_of(TEXT, st.just("+15550100001")), max_size=4), max_size=5),
    header=st.sampled_from(["phone_number,purpose,appointment_id,note", "phone,x", ""]),
)
def test_campaign_csv_files(tmp_path: Path, rows: list[list[str]], header: str) -> None:
    import csv
    import io

    buf = io.StringIO()
    if header:
        buf.write(header + "\n")
    csv.writer(buf).writerows(rows)
    (tmp_path / "c.csv").write_text(buf.getvalue().replace("\x00", ""))
    assert_no_traceback(
        run(["dial", "--csv", "c.csv", "--dry-run", "--purpose", "custom"], env=LIVEKIT)
    )

"""Shared fixtures: a real store (SQLite, and Postgres via `db_url`), the built-in profile, a
frozen clock, a crew call."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from agents.calldata import CallData
from agents.crew import CREW

from callcrew.call import CallInfo, Channel, CrewContext
from callcrew.profile import BusinessProfile, load_profile
from callcrew.settings import Settings
from callcrew.simulate.runner import SimCallControl
from callcrew.store import Store, open_store
from tests import pg_cluster

# Friday 2026-06-12, 09:00 at the salon (America/New_York = UTC-4 in June).
FROZEN_NOW = datetime(2026, 6, 12, 13, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's .env or provider keys, or writes into the repo."""
    for name in (
        "LIVEKIT_URL",
        "LIVEKIT_API_KEY",
        "LIVEKIT_API_SECRET",
        "STACK",
        "STT",
        "LLM",
        "TTS",
        "DEEPGRAM_API_KEY",
        "OPENAI_API_KEY",
        "CARTESIA_API_KEY",
        "ELEVENLABS_API_KEY",
        "LLM_BASE_URL",
        "BUSINESS_PROFILE",
        "TASK_AGENT",
        "CREW",
        "DATABASE_URL",
        "REPORTS_DIR",
        "PROMPTS_DIR",
        "CALLER_LLM_BASE_URL",
        "CALLER_LLM_API_KEY",
        "JUDGE_LLM_BASE_URL",
        "JUDGE_LLM_API_KEY",
        "ANALYSIS_LLM_BASE_URL",
        "ANALYSIS_LLM_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    # Post-call analysis is on by default wherever an OpenAI key exists; tests that set a
    # dummy key must not send a call to the real endpoint (tests/test_analysis.py turns it on).
    monkeypatch.setenv("ANALYSIS", "false")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'test.db'}")
    yield s
    s.close()


@pytest.fixture
def profile() -> BusinessProfile:
    return load_profile()


@pytest.fixture
def make_call(store: Store, profile: BusinessProfile) -> Callable[..., object]:
    async def _make(
        channel: Channel = Channel.INBOUND,
        caller: str | None = "+15550142233",
        task: str | None = None,
    ) -> tuple[CallData, SimCallControl]:
        control = SimCallControl(channel)
        settings = Settings(task_agent=task)
        info = CallInfo(channel=channel, room="test-room", caller_number=caller)
        ctx = CrewContext(
            settings=settings,
            profile=profile,
            store=store,
            control=control,
            now=lambda: FROZEN_NOW,
        )
        state = await CREW.new_call(info, ctx)
        assert isinstance(state, CallData)
        return state, control

    return _make


# --- the store on both back ends -------------------------------------------------------------


@pytest.fixture(scope="session")
def pg() -> Iterator[pg_cluster.Cluster]:
    """One throwaway PostgreSQL cluster for the session; skipped (failed under CI) without it."""
    bindir = pg_cluster.find_bindir()
    reason = None
    if bindir is None:
        reason = "PostgreSQL binaries (initdb, postgres) not installed: apt-get install postgresql"
    else:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            reason = "psycopg not installed: pip install 'callcrew[postgres]'"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test on Postgres too: {reason}")
        pytest.skip(reason)
    assert bindir is not None
    with pg_cluster.running_cluster(bindir) as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLAlchemy URL of an empty store: a SQLite file, or a fresh database in the cluster."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'callcrew.db'}"
        return
    cluster: pg_cluster.Cluster = request.getfixturevalue("pg")
    name = cluster.create_database()
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)

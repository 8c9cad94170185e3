"""What a job knows about its call (CallRun), kept per job id, and the per-process store/profile."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livekit.agents import AgentSession

from callcrew.call import CallInfo, CallState, Crew
from callcrew.profile import BusinessProfile, load_profile
from callcrew.providers.recovery import ProviderRecovery
from callcrew.settings import Settings
from callcrew.store import Store, open_store


@dataclass
class CallRun:
    """What a job knows about its call, for the report written at the end."""

    settings: Settings
    store: Store
    info: CallInfo
    stack: str
    state: CallState | None = None
    session: AgentSession[Any] | None = None
    crew: Crew | None = None
    guards: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    close_reason: str | None = None  # LiveKit's CloseEvent.reason, for `ended_by`
    recovery: ProviderRecovery | None = None  # fallback log, filler, all-failed ending


# One job per process by default; keyed by job id so a thread executor works too.
_RUNS: dict[str, CallRun] = {}
_STORES: dict[str, Store] = {}


_BACKGROUND: set[asyncio.Task[Any]] = set()


def _background(coro: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.create_task(coro)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


@functools.cache
def _profile(path: Path | None, crew: str) -> BusinessProfile:
    # Read once per process: a call should not wait on YAML and validation before it answers.
    return load_profile(path, crew)


def store_for(url: str, crew: str | None = None) -> Store:
    # `crew`: whose tables the store migrates and opens beside the engine's (CREW).
    if url not in _STORES:
        _STORES[url] = open_store(url, crew=crew)
    return _STORES[url]

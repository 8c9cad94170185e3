"""Drain: SIGTERM to a real `callcrew start` with a call in progress lets the call finish.

A worker of its own (not the session's, which other tests keep using) takes a web call; while
the agent is talking, the worker gets SIGTERM. It stays up and the call goes on; a second
dispatch, to another room, is not taken; when the caller hangs up, the report lands in the
store and in REPORTS_DIR, and only then does the worker exit, with status 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from livekit import api, rtc

from callcrew.store import open_store

from .conftest import _WORKER_ENV_DROP, Worker, _local_stack_missing, _stop_worker

if TYPE_CHECKING:
    from .conftest import Devstack, _StubServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

AGENT = "callcrew-e2e-drain"


@pytest.fixture
def drain_worker(
    devstack: Devstack,
    loopback_only_network: None,
    llm_stub: _StubServer,
    tmp_path: Path,
) -> Iterator[Worker]:
    why = _local_stack_missing()
    if why:
        pytest.skip(why)
    env = {k: v for k, v in os.environ.items() if k not in _WORKER_ENV_DROP}
    env.update(
        LIVEKIT_URL=devstack.url,
        LIVEKIT_API_KEY=devstack.api_key,
        LIVEKIT_API_SECRET=devstack.api_secret,
        AGENT_NAME=AGENT,
        DATABASE_URL=f"sqlite:///{tmp_path / 'drain.db'}",
        REPORTS_DIR=str(tmp_path / "reports"),
        STACK="local",
        STT="local/tiny.en",
        TTS="local/heart",
        LLM="openai/stub",
        LLM_BASE_URL=llm_stub.url,
        LOG_LEVEL="INFO",
        WORKER_LOAD_THRESHOLD="1.0",
        WORKER_MAX_CALLS="1000",
        WORKER_CPU_FULL="0",
        DRAIN_TIMEOUT="240",
        # The session's e2e worker still holds the default 8081 while this test runs.
        WORKER_PORT="0",
        PYTHONUNBUFFERED="1",
    )
    callcrew = Path(sys.executable).with_name("callcrew")
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(callcrew) if callcrew.exists() else "callcrew", "start"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = Worker(proc, log, env["DATABASE_URL"], tmp_path / "reports", AGENT)
    try:
        deadline = time.monotonic() + 120
        while "registered worker" not in worker.log_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"drain worker did not register:\n{worker.log_tail()}", pytrace=False)
            time.sleep(0.2)
        yield worker
    finally:
        _stop_worker(proc)


def _token(stack: Devstack, identity: str, room: str) -> str:
    return (
        api.AccessToken(stack.api_key, stack.api_secret)
        .with_identity(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .to_jwt()
    )


def _agents(room: rtc.Room) -> list[rtc.RemoteParticipant]:
    kind = rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
    return [p for p in room.remote_participants.values() if p.kind == kind]


async def _until(check: Any, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(step)
    return bool(check())


def _reports(worker: Worker) -> list[dict[str, Any]]:
    with open_store(worker.database_url) as store:
        return store.reports.list(limit=50)


@pytest.mark.usefixtures("loopback_only_network")
async def test_sigterm_lets_the_call_finish_takes_no_new_one_and_the_report_lands(
    devstack: Devstack, drain_worker: Worker
) -> None:
    worker = drain_worker
    busy_room, late_room = f"e2e-drain-{uuid.uuid4().hex[:6]}", f"e2e-late-{uuid.uuid4().hex[:6]}"
    lk = api.LiveKitAPI(devstack.http_url, devstack.api_key, devstack.api_secret, failover=False)
    caller, late_caller = rtc.Room(), rtc.Room()
    heard: asyncio.Future[rtc.RemoteAudioTrack] = asyncio.get_running_loop().create_future()

    @caller.on("track_subscribed")
    def _on_track(track: rtc.Track, _pub: Any, participant: rtc.RemoteParticipant) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO and not heard.done():
            heard.set_result(track)  # type: ignore[arg-type]

    try:
        opts = rtc.RoomOptions(auto_subscribe=True, connect_timeout=20)
        await caller.connect(devstack.url, _token(devstack, "drain-caller", busy_room), opts)
        await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=AGENT, room=busy_room)
        )
        await asyncio.wait_for(heard, timeout=90)  # the agent is in the call, greeting
        assert _agents(caller), "no agent in the call before SIGTERM"

        worker.proc.send_signal(signal.SIGTERM)
        sigterm_at = time.monotonic()
        assert await _until(lambda: "draining worker" in worker.log_text(), 30), (
            f"the worker did not start draining:\n{worker.log_tail()}"
        )

        # A call dispatched while draining is not taken.
        await late_caller.connect(devstack.url, _token(devstack, "late-caller", late_room), opts)
        await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=AGENT, room=late_room)
        )
        assert not await _until(lambda: bool(_agents(late_caller)), 10), (
            "a draining worker took a new call"
        )
        # ... while the call in progress goes on, and the worker is still up for it.
        assert worker.proc.poll() is None, f"the worker exited mid-call:\n{worker.log_tail()}"
        assert _agents(caller), "the agent left the call in progress"
        assert not [r for r in _reports(worker) if r.get("room") == busy_room]
    finally:
        await caller.disconnect()  # the caller hangs up: the session ends, the report is written
        await late_caller.disconnect()
        hung_up_at = time.monotonic()

    try:
        try:
            code = await asyncio.to_thread(worker.proc.wait, 120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker did not exit after its call:\n{worker.log_tail()}")
        assert code == 0, worker.log_tail()
        mine = [r for r in _reports(worker) if r.get("room") == busy_room]
        assert len(mine) == 1, worker.log_tail()
        assert mine[0]["channel"] == "web" and mine[0]["duration_s"] > 0
        assert (worker.reports_dir / f"{mine[0]['call_id']}.json").is_file()
        assert not [r for r in _reports(worker) if r.get("room") == late_room]
        exited_at = time.monotonic()
        print(
            f"\ndrained: call {mine[0]['call_id']} outcome {mine[0]['outcome']}, "
            f"{mine[0]['duration_s']} s, of which {hung_up_at - sigterm_at:.1f} s after SIGTERM; "
            f"worker exit {code} {exited_at - hung_up_at:.1f} s after the caller left"
        )
    finally:
        for room in (busy_room, late_room):
            with contextlib.suppress(Exception):
                await lk.room.delete_room(api.DeleteRoomRequest(room=room))
        await lk.aclose()

"""`callcrew dial` against the real livekit-server: a dispatch nobody takes is an error.

livekit-server drops a dispatch when no worker of that agent name (with load under its
`agents.target_load`) is registered, and the room just closes after its empty timeout. `dial`
must notice within its confirm timeout, exit non-zero, delete the room and leave a report. With
a real worker registered, the same command confirms the job was taken (from the dispatch state
livekit-server keeps). Outbound trunks live in the server's Redis: no SIP service needed.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from livekit import api

from callcrew.store import open_store

if TYPE_CHECKING:
    from .conftest import Devstack, Worker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CALLEE = "+15550100123"  # fictional (555 01xx): --allow-test-numbers


def _dial(
    devstack: Devstack, cwd: Path, agent_name: str, trunk: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LIVEKIT_URL": devstack.url,
        "LIVEKIT_API_KEY": devstack.api_key,
        "LIVEKIT_API_SECRET": devstack.api_secret,
        "AGENT_NAME": agent_name,
        "DATABASE_URL": f"sqlite:///{cwd / 'dial.db'}",
    }
    callcrew = Path(sys.executable).with_name("callcrew")
    argv = [str(callcrew), "dial", CALLEE, "--purpose", "custom", "--allow-test-numbers"]
    return subprocess.run(
        [*argv, "--trunk", trunk, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _outbound_trunk(lk: api.LiveKitAPI) -> api.SIPOutboundTrunkInfo:
    return await lk.sip.create_outbound_trunk(
        api.CreateSIPOutboundTrunkRequest(
            trunk=api.SIPOutboundTrunkInfo(
                name=f"e2e-out-{uuid.uuid4().hex[:6]}",
                address="127.0.0.1:5099",  # nothing listens: no call is ever placed here
                numbers=["+15550100100"],
            )
        )
    )


async def test_a_dispatch_nobody_takes_fails_the_dial(devstack: Devstack, tmp_path: Path) -> None:
    lk = api.LiveKitAPI(devstack.http_url, devstack.api_key, devstack.api_secret, failover=False)
    trunk = await _outbound_trunk(lk)
    try:
        nobody = f"nobody-{uuid.uuid4().hex[:8]}"  # no worker registers this agent name
        done = await asyncio.to_thread(
            _dial, devstack, tmp_path, nobody, trunk.name, "--confirm-timeout", "4"
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "not placed: no worker took the call within 4 s" in done.stderr
        assert "placed: agent" not in done.stdout
        with open_store(f"sqlite:///{tmp_path / 'dial.db'}") as store:
            (report,) = store.reports.list()
        assert report["ended_by"] == "no_worker" and report["outcome"] == "failed"
        room = report["room"]
        assert re.fullmatch(r"call-out-[0-9a-f]{12}", room)  # no number in the room name
        listed = await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))
        assert [r.name for r in listed.rooms] == []  # deleted, not left for a late worker
    finally:
        await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id))
        await lk.aclose()


@pytest.mark.usefixtures("loopback_only_network")
async def test_a_registered_worker_takes_the_dispatch(
    devstack: Devstack, callcrew_worker: Worker, tmp_path: Path
) -> None:
    lk = api.LiveKitAPI(devstack.http_url, devstack.api_key, devstack.api_secret, failover=False)
    trunk = await _outbound_trunk(lk)
    room = ""
    try:
        done = await asyncio.to_thread(
            _dial,
            devstack,
            tmp_path,
            callcrew_worker.agent_name,
            trunk.name,
            "--confirm-timeout",
            "30",
        )
        assert done.returncode == 0, done.stdout + done.stderr
        m = re.search(r"took the call in room (call-out-[0-9a-f]{12})", done.stdout)
        assert m, done.stdout
        room = m.group(1)
    finally:
        if room:
            listed = await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))
            if listed.rooms:
                await lk.room.delete_room(api.DeleteRoomRequest(room=room))
        await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id))
        await lk.aclose()

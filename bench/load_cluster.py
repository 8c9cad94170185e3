"""Two machines, simulated: two `callcrew start` workers on one livekit-server and one Postgres.

    CALLCREW_DEVSTACK_DIR=/tmp/devstack-capacity bash scripts/devstack isolated -- \\
        env PYTHONPATH=$PWD/src:$PWD .venv/bin/python -m bench.load_cluster [--calls 10]

A throwaway Postgres cluster on loopback (tests/pg_cluster.py), the devstack, a CRM webhook
receiver and the LLM stub in "booking" mode: every caller asks for the same appointment slot at
the same moment, so both workers race to book it. Then it checks, through the store's public
API and the receiver, what a business running several workers relies on:

- jobs spread across both workers (each worker's log names the rooms it took);
- no double booking: exactly one appointment in the contested slot, every other caller told
  it was just taken;
- every call's report lands once (one row per room, one JSON file per call id);
- every outbox delivery once (one webhook POST per call id, none twice).

`run_cluster` is also what tests/e2e/test_two_workers.py runs, at a smaller N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.load_caller import CallPlan, CallResult, run_call
from bench.load_proc import LLMStub, WorkerProc, devstack, devstack_env, start_worker

AGENT = "callcrew-cluster"
LINE = "Hi, I'd like to book a haircut for next week."
SERVICE = "haircut"


def contested_slot(now: datetime | None = None) -> str:
    """A slot id every caller asks for: the first valid haircut start a few days ahead."""
    from agents.desk_profile import desk
    from agents.scheduling import SlotError, validate_start

    from callcrew.profile import load_profile

    profile = load_profile(None)
    service = next(s for s in desk(profile).services if s.id == SERVICE)
    now = now or datetime.now(UTC)
    day = (now + timedelta(days=3)).astimezone(profile.tz).replace(second=0, microsecond=0)
    for offset in range(0, 14 * 24 * 4):
        start = day.replace(hour=0, minute=0) + timedelta(minutes=15 * offset)
        try:
            slot = validate_start(profile, service, start, now)
        except SlotError:
            continue
        return f"{slot.start.astimezone(profile.tz):%Y-%m-%dT%H:%M}"
    raise RuntimeError("no valid slot in the next two weeks of the default profile")


class BookingLLM(LLMStub):
    """The stub scripted by what the request offers: hand off to the desk, then book the one
    contested slot, then a plain reply (whatever the tool said)."""

    def __init__(self, ttft_ms: float, slot_id: str) -> None:
        super().__init__(ttft_ms)
        self.slot_id = slot_id

    def script(self, body: dict[str, Any]) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
        tools = {t.get("function", {}).get("name") for t in body.get("tools", [])}
        called = {
            call.get("function", {}).get("name")
            for m in body.get("messages", [])
            for call in m.get("tool_calls", []) or []
        }
        if "book_appointment" in tools and "book_appointment" not in called:
            return "", [("book_appointment", {"service": SERVICE, "slot_id": self.slot_id})]
        if "hand_off_to_desk" in tools and "hand_off_to_desk" not in called:
            args = {"reason": "book a haircut", "caller_name": "Sam Lee"}
            return "", [("hand_off_to_desk", args)]
        return self.REPLY, []


@dataclass
class Webhook:
    """A CRM endpoint on loopback that counts deliveries per call id."""

    url: str = ""
    posts: Counter[str] = field(default_factory=Counter)
    _ready: threading.Event = field(default_factory=threading.Event)
    _stop: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> Webhook:
        threading.Thread(target=self._run, daemon=True, name="webhook").start()
        if not self._ready.wait(30):
            raise RuntimeError("the webhook receiver did not start")
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        from aiohttp import web

        async def receive(request: web.Request) -> web.Response:
            body = await request.json()
            self.posts[str(body.get("call_id"))] += 1
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_post("/crm", receive)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/crm"  # type: ignore[union-attr]
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def stop(self) -> None:
        if self._stop is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)


@dataclass
class ClusterResult:
    calls: list[CallResult]
    rooms_per_worker: list[list[str]]
    booked_in_slot: int
    appointments: int
    reports_per_room: dict[str, int]
    report_files: int
    posts: dict[str, int]
    call_ids: list[str]
    slot_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": len(self.calls),
            "held": sum(c.held for c in self.calls),
            "dispatched": sum(c.dispatched for c in self.calls),
            "jobs_per_worker": [len(r) for r in self.rooms_per_worker],
            "booked_in_contested_slot": self.booked_in_slot,
            "appointments": self.appointments,
            "rooms_with_one_report": sum(v == 1 for v in self.reports_per_room.values()),
            "rooms_with_more": sum(v > 1 for v in self.reports_per_room.values()),
            "report_files": self.report_files,
            "deliveries_once": sum(self.posts.get(c, 0) == 1 for c in self.call_ids),
            "deliveries_twice_or_more": sum(v > 1 for v in self.posts.values()),
            "slot_id": self.slot_id,
        }


def _rooms(worker: WorkerProc, prefix: str) -> list[str]:
    rooms = set()
    for line in worker.log_text().splitlines():
        if "in room " in line and prefix in line:
            try:
                msg = json.loads(line).get("message", "")
            except json.JSONDecodeError:
                msg = line
            if "in room " in msg:
                rooms.add(msg.rsplit("in room ", 1)[1].split()[0].strip('",'))
    return sorted(rooms)


def run_cluster(database_url: str, calls: int, home: Path, *, workers: int = 2) -> ClusterResult:
    """Inside `scripts/devstack isolated`, with the devstack up: run `calls` concurrent calls
    through `workers` workers sharing `database_url`, then read back what landed."""
    from bench.load import synthesise_line
    from callcrew.store import open_store

    slot = contested_slot()
    stub = BookingLLM(200.0, slot).start()
    hook = Webhook().start()
    procs: list[WorkerProc] = []
    try:
        lk = devstack_env()
        reports = home / "reports"  # one folder for both, as on a shared volume
        env = {
            "LIVEKIT_URL": lk["LIVEKIT_URL"], "LIVEKIT_API_KEY": lk["LIVEKIT_API_KEY"],
            "LIVEKIT_API_SECRET": lk["LIVEKIT_API_SECRET"], "AGENT_NAME": AGENT,
            "DATABASE_URL": database_url, "REPORTS_DIR": str(reports),
            "WORKER_LOAD_THRESHOLD": "1.0", "WORKER_CPU_FULL": "0",
            # at most half the calls each, so the server must use both workers
            "WORKER_MAX_CALLS": str(max(1, (calls + workers - 1) // workers)),
            "CRM_WEBHOOK_URL": hook.url, "CRM_WEBHOOK_SECRET": "cluster-bench-secret-0123456789",
            "STACK": "economy", "STT": "bench/streaming", "TTS": "bench/tone",
            "CALLCREW_PLUGIN_MODULES": "bench.load_plugins",
            "LLM": "openai/gpt-4.1-mini", "LLM_BASE_URL": stub.url, "OPENAI_API_KEY": "stub",
        }  # fmt: skip
        # one at a time: both create the schema on first open otherwise
        for w in range(workers):
            procs.append(start_worker(home / f"w{w}", env))
        time.sleep(5)  # idle job processes up
        plan = CallPlan(
            url=lk["LIVEKIT_URL"], api_key=lk["LIVEKIT_API_KEY"],
            api_secret=lk["LIVEKIT_API_SECRET"], agent_name=AGENT,
            line=synthesise_line(), turns=1, answer_timeout=20.0,
        )  # fmt: skip
        prefix = f"cluster-{int(time.time())}"

        async def all_calls() -> list[CallResult]:
            return list(
                await asyncio.gather(*(run_call(plan, f"{prefix}-{i}") for i in range(calls)))
            )

        results = asyncio.run(all_calls())
        rooms = {r.room for r in results}
        store = open_store(database_url)
        try:
            deadline = time.monotonic() + 90
            while True:
                mine = [r for r in store.reports.list(limit=1000) if r.get("room") in rooms]
                call_ids = [str(r["call_id"]) for r in mine]
                done = len({r["room"] for r in mine}) >= len(rooms) and all(
                    hook.posts.get(c, 0) >= 1 for c in call_ids
                )
                if done or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            time.sleep(3)  # a second delivery, if there is one, has time to arrive
            per_room = Counter(str(r["room"]) for r in mine)
            appts = store.crew_data.appointments.all()  # the desk's table
            in_slot = [
                a for a in appts
                if f"{a.start.astimezone(_tz()):%Y-%m-%dT%H:%M}" == slot and a.status != "cancelled"
            ]  # fmt: skip
        finally:
            store.close()
        files = len({p.stem for p in reports.glob("*.json")} & set(call_ids))
        return ClusterResult(
            calls=results,
            rooms_per_worker=[_rooms(p, prefix) for p in procs],
            booked_in_slot=len(in_slot),
            appointments=len(appts),
            reports_per_room=dict(per_room),
            report_files=files,
            posts=dict(hook.posts),
            call_ids=call_ids,
            slot_id=slot,
        )
    finally:
        for p in procs:
            p.stop()
        hook.stop()
        stub.stop()


def _tz() -> Any:
    from callcrew.profile import load_profile

    return load_profile(None).tz


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.load_cluster", description=__doc__.split("\n")[0]
    )
    p.add_argument("--calls", type=int, default=10)
    args = p.parse_args(argv)
    import logging

    from tests.pg_cluster import find_bindir, running_cluster

    # the agent cancels LLM streams it no longer needs (preemptive generation): not an error
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)

    bindir = find_bindir()
    if bindir is None:
        print("bench load_cluster: PostgreSQL is not installed (initdb not found)", file=sys.stderr)
        return 2
    up = devstack("up", target_load=1.0)
    if up.returncode != 0:
        print(f"scripts/devstack up failed:\n{up.stdout}{up.stderr}", file=sys.stderr)
        return 1
    try:
        with running_cluster(bindir) as cluster:
            db = cluster.create_database()
            home = Path(tempfile.mkdtemp(prefix="callcrew-cluster-"))
            t0 = time.time()
            res = run_cluster(cluster.url(db), args.calls, home)
            summary = res.as_dict() | {"seconds": round(time.time() - t0, 1)}
            print(json.dumps(summary, indent=2))
    finally:
        devstack("down", target_load=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

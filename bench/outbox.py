"""Outbox: POSTs per report when several workers share one store.

    .venv/bin/python -m bench outbox [--quick]
    .venv/bin/python -m bench.outbox --workers 4 --reports 10 [--src /other/checkout/src]

Each worker is a process of its own on one SQLite file, as `callcrew start` workers sharing a
DATABASE_URL are. Each ends `--reports` calls the way the worker does (the report queued and
POSTed at once by `deliver_report`, then an outbox round), while an idle-timer round runs every
0.2 s beside it. The CRM is a local HTTP server counting POSTs per `call_id`. Two runs: the
CRM up throughout, and down (503) for 3 s from the first POST, then up. Target: 1.0 POST per
report when it is up, 1.0 accepted POST per report (no duplicates) either way. `--src`
measures another checkout (e.g. main) with the same load. It reports numbers, never fails.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import table, write_result  # noqa: E402

WORKER = textwrap.dedent(
    """
    import asyncio, sys
    sys.path[:0] = [{src!r}]
    from datetime import UTC, datetime
    from callcrew.metrics import webhook
    from callcrew.settings import Settings
    from callcrew.store import open_store

    async def main():
        settings = Settings(
            database_url={db!r}, crm_webhook_url={url!r}, crm_webhook_secret="bench",
            crm_webhook_max_attempts=50,
        )
        policy = webhook.RetryPolicy(base_s=0.05, outbox_base_s=0.2, outbox_max_s=0.5)
        store = open_store(settings.database_url)
        stop = asyncio.Event()

        async def idle_timer():
            while not stop.is_set():
                await webhook.retry_outbox(store, settings, policy=policy)
                await asyncio.sleep(0.2)

        timer = asyncio.create_task(idle_timer())
        for i in range({reports}):
            report = {{"call_id": "call_w{worker}_" + str(i), "room": "r",
                       "started_at": datetime.now(UTC).isoformat()}}
            await webhook.deliver_report(store, settings, report, policy=policy)
            await webhook.retry_outbox(store, settings, policy=policy)
            await asyncio.sleep(0.05)
        deadline = asyncio.get_running_loop().time() + {drain_s}
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
        stop.set()
        await timer

    asyncio.run(main())
    """
)


class Counting:
    def __init__(self, down_for_s: float) -> None:
        self.posts: Counter[str] = Counter()
        self.ok: Counter[str] = Counter()
        self.down_for_s = down_for_s
        self.down_until: float | None = None  # the outage starts with the first POST

    async def handle(self, request: web.Request) -> web.Response:
        import json

        call_id = str(json.loads(await request.read()).get("call_id"))
        self.posts[call_id] += 1
        if self.down_until is None:
            self.down_until = time.monotonic() + self.down_for_s
        if time.monotonic() < self.down_until:
            return web.Response(status=503)
        self.ok[call_id] += 1
        return web.Response(status=204)


async def run(src: Path, workers: int, reports: int, down_for_s: float) -> dict[str, Any]:
    crm = Counting(down_for_s)
    app = web.Application()
    app.router.add_post("/calls", crm.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    with tempfile.TemporaryDirectory(prefix="callcrew-outbox-") as tmp:
        db = f"sqlite:///{Path(tmp) / 'shared.db'}"
        # Create the schema once, so the workers do not race to migrate.
        subprocess.run(
            [sys.executable, "-c", f"import sys; sys.path[:0]=[{str(src)!r}]\n"
             f"from callcrew.store import open_store; open_store({db!r}).close()"],
            check=True, timeout=120,
        )  # fmt: skip
        t0 = time.monotonic()
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                WORKER.format(
                    src=str(src),
                    db=db,
                    url=f"http://{host}:{port}/calls",
                    reports=reports,
                    worker=w,
                    drain_s=down_for_s + 3.0,
                ),
            )
            for w in range(workers)
        ]
        codes = [await p.wait() for p in procs]
        wall = time.monotonic() - t0
    await runner.cleanup()
    total = workers * reports
    return {
        "workers": workers,
        "reports": total,
        "crm_down_s": down_for_s,
        "exit_codes": codes,
        "posts": sum(crm.posts.values()),
        "posts_per_report": round(sum(crm.posts.values()) / total, 2),
        "accepted_posts_per_report": round(sum(crm.ok.values()) / total, 2),
        "delivered": len(crm.ok),
        "duplicates": sum(n - 1 for n in crm.ok.values() if n > 1),
        "wall_s": round(wall, 1),
    }


def main(args: argparse.Namespace) -> None:
    quick = getattr(args, "quick", False)
    workers = getattr(args, "workers", None) or 4
    reports = getattr(args, "reports", None) or (3 if quick else 10)
    src = Path(getattr(args, "src", None) or ROOT / "src").resolve()
    results = [asyncio.run(run(src, workers, reports, down)) for down in (0.0, 3.0)]
    rows = [
        [
            "up" if r["crm_down_s"] == 0 else f"down {r['crm_down_s']:g} s, then up",
            r["workers"],
            r["reports"],
            r["posts"],
            r["posts_per_report"],
            r["accepted_posts_per_report"],
            f"{r['delivered']}/{r['reports']}",
            r["duplicates"],
        ]
        for r in results
    ]
    print(f"code under test: {src}")
    print(
        table(
            ["CRM", "workers", "reports", "POSTs", "POSTs/report", "2xx/report", "delivered",
             "dupes"],
            rows,
        )
    )  # fmt: skip
    path = write_result("outbox", {"src": str(src), "runs": results}, getattr(args, "out", None))
    print(f"wrote {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--reports", type=int, default=None, help="per worker (default 10)")
    parser.add_argument("--src", type=Path, default=None, help="the src/ folder to measure")
    parser.add_argument("--out", type=Path, default=None)
    main(parser.parse_args())

"""Two machines, simulated: two real `callcrew start` workers on one livekit-server and one
Postgres store, taking concurrent web calls that all ask for the same appointment slot.

The workers report themselves full at half the calls each (WORKER_MAX_CALLS), so the server
must spread the jobs across both; the LLM stub books the one contested slot in every call.
Asserted: both workers took calls, exactly one booking in the slot, one report per room (and
its JSON file), one CRM delivery per call id. The same code is `python -m bench.load_cluster`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from bench.load_cluster import run_cluster

if TYPE_CHECKING:
    from tests.pg_cluster import Cluster

    from .conftest import Devstack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

CALLS = 4


@pytest.mark.usefixtures("loopback_only_network")
def test_two_workers_share_the_load_and_the_store(
    devstack: Devstack, pg: Cluster, tmp_path: Path
) -> None:
    db = pg.create_database()
    try:
        res = run_cluster(pg.url(db), CALLS, tmp_path)
    finally:
        pg.drop_database(db)
    summary = res.as_dict()
    assert all(c.dispatched for c in res.calls), summary
    # the server spread the calls: each worker took some (neither holds more than its share)
    assert all(n >= 1 for n in summary["jobs_per_worker"]), summary
    assert sum(summary["jobs_per_worker"]) == CALLS, summary
    # every caller asked for the same slot at once: one booking, the rest were refused
    assert res.booked_in_slot == 1, summary
    # every report once, in the store and as a file; every CRM delivery once
    assert sorted(res.reports_per_room.values()) == [1] * CALLS, summary
    assert res.report_files == CALLS, summary
    assert all(res.posts.get(c) == 1 for c in res.call_ids), (summary, res.posts)

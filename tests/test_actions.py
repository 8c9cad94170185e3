"""agents/actions.py: the net-effect outcome, and the actions list in the report (and so in
the CRM webhook's payload, which is the report)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agents.actions import Action, net_outcome
from agents.outcomes import DeskOutcome

from callcrew.call import Outcome
from callcrew.metrics.report import build_report
from callcrew.metrics.webhook import body_of

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("actions", "outcome"),
    [
        ([], None),
        ([Action("listed")], None),
        ([Action("booked", 1)], DeskOutcome.BOOKED),
        ([Action("booked", 1), Action("moved", 1)], DeskOutcome.BOOKED),
        ([Action("booked", 1), Action("moved", 1), Action("moved", 1)], DeskOutcome.BOOKED),
        ([Action("moved", 7)], DeskOutcome.RESCHEDULED),
        ([Action("cancelled", 7)], DeskOutcome.CANCELLED),
        ([Action("booked", 1), Action("cancelled", 1)], None),
        ([Action("moved", 7), Action("cancelled", 7)], DeskOutcome.CANCELLED),
        ([Action("cancelled", 7), Action("booked", 8)], DeskOutcome.BOOKED),
        (
            [Action("moved", 7), Action("booked", 8), Action("cancelled", 8)],
            DeskOutcome.RESCHEDULED,
        ),
    ],
)
def test_net_outcome(actions: list[Action], outcome: Outcome | None) -> None:
    assert net_outcome(actions) == outcome


async def test_book_then_move_is_booked_and_every_action_reaches_the_payload(
    make_call: Any,
) -> None:
    state, _ = await make_call()
    state.record_action(Action("booked", 1, "haircut", "2026-06-18T09:00"))
    assert state.outcome == DeskOutcome.BOOKED
    state.record_action(Action("listed"))
    state.record_action(Action("moved", 1, "haircut", "2026-06-18T17:30", "2026-06-18T09:00"))
    assert state.outcome == DeskOutcome.BOOKED
    state.record_action(Action("message_taken"))
    assert state.outcome is Outcome.MESSAGE_TAKEN
    report = build_report(state, info=state.info, history=None, usage=None, stack="economy")
    payload = json.loads(body_of(report))
    assert [a["kind"] for a in payload["crew"]["actions"]] == [
        "booked",
        "listed",
        "moved",
        "message_taken",
    ]
    assert payload["crew"]["actions"][2] == {
        "kind": "moved",
        "appointment_id": 1,
        "service": "haircut",
        "start": "2026-06-18T17:30",
        "previous_start": "2026-06-18T09:00",
    }


async def test_booking_then_cancelling_it_leaves_nothing_changed(make_call: Any) -> None:
    state, _ = await make_call()
    state.record_action(Action("booked", 3))
    state.record_action(Action("cancelled", 3))
    assert state.outcome == DeskOutcome.INFO
    state.set_outcome(Outcome.COMPLETED)  # the goodbye may label a call that changed nothing
    assert state.outcome is Outcome.COMPLETED

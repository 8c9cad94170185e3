"""agents/appointments.py: slot ids the model invents, and the net outcome of a call."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from agents.appointments import AppointmentsAgent
from agents.outcomes import DeskOutcome

from tests.test_agents import start, steps

pytestmark = pytest.mark.unit


def hold(store: Any, profile: Any, start: str) -> None:
    other = store.crew_data.customers.find_by_phone(
        "+15550100077"
    ) or store.crew_data.customers.create("Other", "+15550100077")
    at = datetime.fromisoformat(start).replace(tzinfo=profile.tz)
    store.crew_data.appointments.book(other.id, "haircut", at, at + timedelta(minutes=30))


async def run_desk(make_call: Any, store: Any, script_steps: list[Any]) -> tuple[Any, list[Any]]:
    state, _, script, session = await start(make_call, {0: steps(*script_steps)})
    customer = store.crew_data.customers.create("Dana Whitfield", "+15550142299")
    state.customer_id, state.customer_name = customer.id, customer.name
    async with session:
        await session.start(AppointmentsAgent(state))
        if session.current_speech is not None:
            await session.current_speech.wait_for_playout()
        script.begin_turn(0)
        result = await session.run(user_input="Tuesday at half past nine, please")
    outputs = [
        ev.item for ev in result.events if getattr(ev.item, "type", "") == "function_call_output"
    ]
    return state, outputs


async def test_an_invented_slot_that_is_not_free_is_refused(
    make_call: Any, store: Any, profile: Any
) -> None:
    hold(store, profile, "2026-06-16T09:30")
    state, outputs = await run_desk(
        make_call,
        store,
        [
            {
                "tool": "book_appointment",
                "args": {"service": "haircut", "slot_id": "2026-06-16T09:30"},
            },
            {"say": "That one's taken."},
        ],
    )
    assert outputs[0].is_error
    assert outputs[0].output.startswith(
        "Tuesday June 16 at 9:30 am is not free, and it was never offered on this call"
    )
    assert "2026-06-16T09:00: Tuesday June 16 at 9 am" in outputs[0].output
    assert state.actions == []


async def test_an_offered_slot_taken_since_is_just_taken(
    make_call: Any, store: Any, profile: Any
) -> None:
    state, _, script, session = await start(
        make_call,
        {
            0: steps(
                {
                    "tool": "find_free_slots",
                    "args": {"service": "haircut", "day": "2026-06-16", "time": "10:30"},
                },
                {"say": "Half past ten is free."},
            ),
            1: steps(
                {
                    "tool": "book_appointment",
                    "args": {"service": "haircut", "slot_id": "2026-06-16T10:30"},
                },
                {"say": "Sorry, it just went."},
            ),
        },
    )
    customer = store.crew_data.customers.create("Dana Whitfield", "+15550142299")
    state.customer_id, state.customer_name = customer.id, customer.name
    async with session:
        await session.start(AppointmentsAgent(state))
        if session.current_speech is not None:
            await session.current_speech.wait_for_playout()
        script.begin_turn(0)
        await session.run(user_input="Is Tuesday at half past ten free?")
        assert "2026-06-16T10:30" in state.offered_slots
        hold(store, profile, "2026-06-16T10:30")  # another caller books it meanwhile
        script.begin_turn(1)
        result = await session.run(user_input="Book it, please")
    out = next(ev.item for ev in result.events if ev.item.type == "function_call_output")
    assert out.is_error
    assert out.output.startswith(
        "Tuesday June 16 at 10:30 am was just taken by someone else. Offer other free times. "
        "Nearest free before and after:"
    )


async def test_a_free_slot_named_by_the_caller_books_and_a_move_keeps_it_booked(
    make_call: Any, store: Any
) -> None:
    state, outputs = await run_desk(
        make_call,
        store,
        [
            {
                "tool": "book_appointment",
                "args": {"service": "haircut", "slot_id": "2026-06-16T09:30"},
            },
            {
                "tool": "reschedule_appointment",
                "args": {"appointment_id": 1, "slot_id": "2026-06-16T11:00"},
            },
            {"say": "Booked, then moved."},
        ],
    )
    assert not any(o.is_error for o in outputs)
    assert [a.kind for a in state.actions] == ["booked", "moved"]
    assert state.outcome == DeskOutcome.BOOKED

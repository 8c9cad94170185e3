"""simulate/checks.py: each expectation's failure line, on hand-made turns and reports."""

from __future__ import annotations

from typing import Any

import pytest

from callcrew.call import Channel
from callcrew.crews import load_crew
from callcrew.simulate.checks import check_expectations, check_turn
from callcrew.simulate.runner import SimCallControl, TurnLog
from callcrew.simulate.scenario import parse_scenario

pytestmark = pytest.mark.unit


def scenario(**expect: Any) -> Any:
    return parse_scenario(
        {
            "name": "x",
            "caller": "+15550142233",
            "turns": [{"caller": "Hi"}, {"caller": "Bye"}],
            "expect": expect,
        }
    )


def call(tool: str, line: int) -> TurnLog:
    log = TurnLog(line, "line", 0.0)
    log.events = [{"type": "tool_call", "name": tool, "arguments": "{}"}]
    return log


OPENING = TurnLog(-1, "", 0.0, [{"type": "say", "text": "Hello there."}])
REPORT: dict[str, Any] = {
    "outcome": "caller_hung_up",
    "ended_by": "caller",
    "crew": {
        "changes": ["booked a haircut on Tuesday", "moved the haircut to Thursday"],
        "actions": [{"kind": "booked", "appointment_id": 1}, {"kind": "moved"}],
        "message_for_staff": "Call Mia back",
        "customer_name": "Mia",
    },
}


async def fails(
    make_call: Any, store: Any, profile: Any, turns: list[TurnLog], **exp: Any
) -> list[str]:
    state, _ = await make_call()
    control = SimCallControl(Channel.INBOUND)
    return check_expectations(
        scenario(**exp),
        state,
        store,
        control,
        "appointments",
        [OPENING, *turns],
        profile,
        REPORT,
        load_crew(),
    )


async def test_the_outcome_is_the_reports(make_call: Any, store: Any, profile: Any) -> None:
    # The call state still says in_progress; the report says how the call really ended.
    assert await fails(make_call, store, profile, [], outcome="caller_hung_up") == []
    assert await fails(make_call, store, profile, [], outcome="booked") == [
        "outcome: expected 'booked', got 'caller_hung_up'"
    ]
    assert await fails(make_call, store, profile, [], outcome_not=["caller_hung_up"]) == [
        "outcome: must not be 'caller_hung_up', but it is"
    ]


async def test_tool_counts_and_within_turns(make_call: Any, store: Any, profile: Any) -> None:
    turns = [call("find_free_slots", 0), call("book_appointment", 1)]
    assert (
        await fails(
            make_call,
            store,
            profile,
            turns,
            tools_called={"find_free_slots": 1, "book_appointment": 1, "cancel_appointment": 0},
            within_turns={"find_free_slots": 1, "book_appointment": 2},
        )
        == []
    )
    assert await fails(
        make_call,
        store,
        profile,
        turns,
        tools_called={"book_appointment": 2},
        within_turns={"book_appointment": 1, "request_human": 2},
    ) == [
        "tools called: 'book_appointment' 2 time(s), got 1",
        "within turns: 'book_appointment' first called at caller line 2, wanted by line 1",
        "within turns: 'request_human' was never called (wanted by line 2)",
    ]


async def test_report_fields_and_crew_data(make_call: Any, store: Any, profile: Any) -> None:
    assert (
        await fails(
            make_call,
            store,
            profile,
            [],
            ended_by="caller",
            changes=["booked a haircut", "moved"],
            actions=["booked", "moved"],
            message_for_staff="mia back",
            crew={"customer_name": "Mia"},
            opening_said=["hello"],
        )
        == []
    )
    assert await fails(
        make_call,
        store,
        profile,
        [],
        ended_by="agent",
        changes=["moved", "booked"],
        actions=["booked"],
        message_for_staff="scarf",
        crew={"customer_name": "Ann", "loyalty": 3},
        opening_said=["Hello", "Welcome back"],
    ) == [
        "ended_by: expected 'agent', got 'caller'",
        "opening said: 'Welcome back' not heard (in order) before the caller's first line; "
        "heard ['Hello there.']",
        "crew.customer_name: expected 'Ann', got 'Mia'",
        # the desk's own keys (agents/rehearsal/checks.py)
        "changes: 'booked' not found (in order); changes were "
        "['booked a haircut on Tuesday', 'moved the haircut to Thursday']",
        "message for staff: expected one containing 'scarf', got 'Call Mia back'",
        "actions: expected ['booked'], got ['booked', 'moved']",
    ]
    assert await fails(make_call, store, profile, [], crew={"loyalty": 3}) == [
        "crew.loyalty: missing (has changes, actions, message_for_staff, customer_name)"
    ]


async def test_a_report_without_ended_by_fails_clearly(
    make_call: Any, store: Any, profile: Any
) -> None:
    state, _ = await make_call()
    old = {k: v for k, v in REPORT.items() if k != "ended_by"}
    out = check_expectations(
        scenario(ended_by="caller"),
        state,
        store,
        SimCallControl(Channel.INBOUND),
        None,
        [OPENING],
        profile,
        old,
        load_crew(),
    )
    assert out == [
        "ended_by: expected 'caller', but the report has no ended_by field (a report format "
        "from before ended_by)"
    ]


async def test_a_turn_checks_the_store_and_the_call_so_far(
    make_call: Any, store: Any, profile: Any
) -> None:
    state, _ = await make_call()
    wanted = {
        "outcome": "booked",
        "tools_called": ["find_free_slots"],
        "customers": 1,  # the desk's keys, mixed into the engine's
        "appointments": [{"start": "2026-06-16T09:30"}],
    }
    s = parse_scenario(
        {"name": "x", "channel": "web", "turns": [{"caller": "Hi", "expect": wanted}]}
    )
    exp = s.turns[0].expect
    assert exp is not None
    out = check_turn(exp, call("book_appointment", 2), state, store, profile, load_crew())
    assert out == [
        "after caller line 3: outcome: expected 'booked', got 'in_progress'",
        "after caller line 3: tools called: expected ['find_free_slots'] in this order, got "
        "['book_appointment']",
        "after caller line 3: appointments: expected ['2026-06-16T09:30 booked'], store holds []",
        "after caller line 3: customers in the store: expected 1, got 0",
    ]

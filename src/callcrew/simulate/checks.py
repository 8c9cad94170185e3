"""Checks a rehearsal's end state against the scenario's `expect` block.

Each failure is one readable line saying what was expected and what happened.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from callcrew.call import CallState
from callcrew.profile import BusinessProfile
from callcrew.simulate.scenario import Scenario
from callcrew.store import Store

if TYPE_CHECKING:
    from callcrew.simulate.runner import TurnLog


class _Control(Protocol):
    hung_up: str | None
    transferred_to: str | None


def _events(turns: list[TurnLog], kind: str) -> list[dict[str, Any]]:
    return [e for t in turns for e in t.events if e["type"] == kind]


def _is_subsequence(wanted: list[str], seen: list[str]) -> bool:
    it = iter(seen)
    return all(any(w == s for s in it) for w in wanted)


def _local_str(profile: BusinessProfile, when: datetime) -> str:
    return f"{when.astimezone(profile.tz):%Y-%m-%dT%H:%M}"


def _aware(profile: BusinessProfile, when: datetime) -> datetime:
    return when.replace(tzinfo=profile.tz) if when.tzinfo is None else when


def check_expectations(
    scenario: Scenario,
    state: CallState,
    store: Store,
    control: _Control,
    final_agent: str | None,
    turns: list[TurnLog],
    profile: BusinessProfile,
) -> list[str]:
    exp = scenario.expect
    fails: list[str] = []

    def differ(what: str, expected: Any, actual: Any) -> None:
        if expected is not None and expected != actual:
            fails.append(f"{what}: expected {expected!r}, got {actual!r}")

    differ("final agent", exp.final_agent, final_agent)
    differ("outcome", exp.outcome, state.outcome.value)
    if exp.hung_up is not None:
        differ("hung up", exp.hung_up, control.hung_up is not None)
    differ("transferred to", exp.transferred_to, control.transferred_to)
    differ("agents visited", exp.agents_visited, state.agents_visited)

    called = [e["name"] for e in _events(turns, "tool_call")]
    if exp.tools_called is not None and not _is_subsequence(exp.tools_called, called):
        fails.append(f"tools called: expected {exp.tools_called} in this order, got {called}")
    for name in exp.tools_not_called or []:
        if name in called:
            fails.append(f"tools called: {name!r} must not be called, but it was")

    errors = [str(e["output"]) for e in _events(turns, "tool_result") if e["is_error"]]
    if exp.tool_errors == [] and errors:
        fails.append(f"tool errors: expected none, got {errors}")
    for fragment in exp.tool_errors or []:
        if not any(fragment.lower() in err.lower() for err in errors):
            fails.append(f"tool errors: none contains {fragment!r}; errors were {errors}")

    said = " ".join(e["text"] for e in _events(turns, "say")).lower()
    for fragment in exp.agent_said or []:
        if fragment.lower() not in said:
            fails.append(f"agent said: {fragment!r} never said")

    if exp.appointments is not None:
        customers = {}
        actual = []
        for a in store.appointments.all():
            if a.customer_id not in customers:
                customers[a.customer_id] = store.customers.get(a.customer_id)
            c = customers[a.customer_id]
            actual.append((c, a))
        want_rows = sorted(
            f"{_local_str(profile, _aware(profile, e.start))} {e.status}" for e in exp.appointments
        )
        got_rows = sorted(f"{_local_str(profile, a.start)} {a.status}" for _, a in actual)
        if want_rows != got_rows:
            fails.append(f"appointments: expected {want_rows}, store holds {got_rows}")
        for e in exp.appointments:
            start = _aware(profile, e.start)
            match = [(c, a) for c, a in actual if a.start == start and a.status == e.status]
            if not match:
                continue
            c, a = match[0]
            where = f"appointment at {_local_str(profile, start)}"
            wanted = profile.service(e.service) if e.service else None
            if e.service and (wanted is None or wanted.id != a.service_id):
                fails.append(f"{where}: service {a.service_id!r}, expected {e.service!r}")
            if e.customer and c is not None and e.customer not in (c.phone, c.name):
                fails.append(f"{where}: customer {c.name!r}, expected {e.customer!r}")

    if exp.booked_on_call is not None:
        mine = sorted(
            _local_str(profile, a.start)
            for a in store.appointments.all()
            if a.call_id == state.info.call_id and a.status == "booked"
        )
        want = sorted(_local_str(profile, _aware(profile, t)) for t in exp.booked_on_call)
        if mine != want:
            fails.append(f"booked on this call: expected {want}, got {mine}")

    if exp.customers is not None:
        differ("customers in the store", exp.customers, len(store.customers.all()))
    return fails

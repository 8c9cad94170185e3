"""Checks a rehearsal against the scenario's `expect` blocks: the call's end (against its
report and the store), a turn's (right after that caller line), and a `calls:` file's (the
shared store after every call).

Each failure is one readable line saying what was expected and what happened.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from callcrew.call import CallState
from callcrew.profile import BusinessProfile
from callcrew.simulate.expectations import Expectations, StoreExpect, TurnExpect
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


def _in_order(fragments: list[str], texts: list[str]) -> str | None:
    """The first fragment not found in `texts` after the previous one's match, if any."""
    i = 0
    for fragment in fragments:
        while i < len(texts) and fragment.lower() not in texts[i].lower():
            i += 1
        if i == len(texts):
            return fragment
        i += 1
    return None


def _tools(exp: TurnExpect, called: list[str], fails: list[str], where: str) -> None:
    if isinstance(exp.tools_called, dict):
        for name, count in exp.tools_called.items():
            got = called.count(name)
            if got != count:
                fails.append(f"{where}tools called: {name!r} {count} time(s), got {got}")
    elif exp.tools_called is not None and not _is_subsequence(exp.tools_called, called):
        fails.append(
            f"{where}tools called: expected {exp.tools_called} in this order, got {called}"
        )
    for name in exp.tools_not_called or []:
        if name in called:
            fails.append(f"{where}tools called: {name!r} must not be called, but it was")


def _action_kinds(crew: dict[str, Any]) -> list[str] | None:
    actions = crew.get("actions")
    if not isinstance(actions, list):
        return None
    return [str(a.get("kind")) if isinstance(a, dict) else str(a) for a in actions]


def _common(
    exp: TurnExpect,
    turns: list[TurnLog],
    outcome: str,
    crew: dict[str, Any],
    where: str = "",
) -> list[str]:
    """What an end-of-call and a turn expectation share: outcome, tools, errors, speech."""
    fails: list[str] = []
    if exp.outcome is not None and exp.outcome != outcome:
        fails.append(f"{where}outcome: expected {exp.outcome!r}, got {outcome!r}")
    _tools(exp, [e["name"] for e in _events(turns, "tool_call")], fails, where)
    errors = [str(e["output"]) for e in _events(turns, "tool_result") if e["is_error"]]
    if exp.tool_errors == [] and errors:
        fails.append(f"{where}tool errors: expected none, got {errors}")
    for fragment in exp.tool_errors or []:
        if not any(fragment.lower() in err.lower() for err in errors):
            fails.append(f"{where}tool errors: none contains {fragment!r}; errors were {errors}")
    said = " ".join(e["text"] for e in _events(turns, "say")).lower()
    for fragment in exp.agent_said or []:
        if fragment.lower() not in said:
            fails.append(f"{where}agent said: {fragment!r} never said")
    if exp.actions is not None:
        kinds = _action_kinds(crew)
        if kinds is None:
            fails.append(f"{where}actions: the report's crew data has no actions list")
        elif kinds != exp.actions:
            fails.append(f"{where}actions: expected {exp.actions}, got {kinds}")
    return fails


def check_store(
    exp: StoreExpect, store: Store, profile: BusinessProfile, where: str = ""
) -> list[str]:
    """The store's appointments (all of them) and customer count."""
    fails: list[str] = []
    if exp.appointments is not None:
        customers = {}
        actual = []
        for a in store.crew_data.appointments.all():
            if a.customer_id not in customers:
                customers[a.customer_id] = store.crew_data.customers.get(a.customer_id)
            actual.append((customers[a.customer_id], a))
        want_rows = sorted(
            f"{_local_str(profile, _aware(profile, e.start))} {e.status}" for e in exp.appointments
        )
        got_rows = sorted(f"{_local_str(profile, a.start)} {a.status}" for _, a in actual)
        if want_rows != got_rows:
            fails.append(f"{where}appointments: expected {want_rows}, store holds {got_rows}")
        for e in exp.appointments:
            start = _aware(profile, e.start)
            match = [(c, a) for c, a in actual if a.start == start and a.status == e.status]
            if not match:
                continue
            c, a = match[0]
            at = f"{where}appointment at {_local_str(profile, start)}"
            wanted = cast(Any, profile.section).service(e.service) if e.service else None
            if e.service and (wanted is None or wanted.id != a.service_id):
                fails.append(f"{at}: service {a.service_id!r}, expected {e.service!r}")
            if e.customer and c is not None and e.customer not in (c.phone, c.name):
                fails.append(f"{at}: customer {c.name!r}, expected {e.customer!r}")
    if exp.customers is not None:
        got = len(store.crew_data.customers.all())
        if got != exp.customers:
            fails.append(f"{where}customers in the store: expected {exp.customers}, got {got}")
    return fails


def check_turn(
    exp: TurnExpect, log: TurnLog, state: CallState, store: Store, profile: BusinessProfile
) -> list[str]:
    """A turn's `expect:`, right after its caller line (the call is still going)."""
    where = f"after caller line {log.index + 1}: "
    fails = _common(exp, [log], str(state.outcome), state.report_extras(), where)
    return fails + check_store(exp, store, profile, where)


def _report_fields(exp: Expectations, report: dict[str, Any]) -> list[str]:
    fails: list[str] = []
    crew = report.get("crew") if isinstance(report.get("crew"), dict) else {}
    assert isinstance(crew, dict)
    if exp.ended_by is not None:
        if "ended_by" not in report:
            fails.append(
                f"ended_by: expected {exp.ended_by!r}, but the report has no ended_by field "
                "(a report format from before ended_by)"
            )
        elif report["ended_by"] != exp.ended_by:
            fails.append(f"ended_by: expected {exp.ended_by!r}, got {report['ended_by']!r}")
    for outcome in exp.outcome_not or []:
        if report.get("outcome") == outcome:
            fails.append(f"outcome: must not be {outcome!r}, but it is")
    if exp.changes is not None:
        changes = [str(c) for c in crew.get("changes") or []]
        missing = _in_order(exp.changes, changes)
        if missing is not None:
            fails.append(f"changes: {missing!r} not found (in order); changes were {changes}")
    if exp.message_for_staff is not None:
        message = crew.get("message_for_staff")
        if not isinstance(message, str) or exp.message_for_staff.lower() not in message.lower():
            fails.append(
                f"message for staff: expected one containing {exp.message_for_staff!r}, "
                f"got {message!r}"
            )
    for key, value in (exp.crew or {}).items():
        if key not in crew:
            fails.append(f"crew.{key}: the report's crew data has no {key!r} ({sorted(crew)})")
        elif crew[key] != value:
            fails.append(f"crew.{key}: expected {value!r}, got {crew[key]!r}")
    return fails


def check_expectations(
    scenario: Scenario,
    state: CallState,
    store: Store,
    control: _Control,
    final_agent: str | None,
    turns: list[TurnLog],
    profile: BusinessProfile,
    report: dict[str, Any],
) -> list[str]:
    """The call's `expect:`; `turns` starts with the opening (index -1). The outcome checked is
    the report's, as stats and the CRM see it (a caller who hung up is `caller_hung_up`)."""
    exp = scenario.expect
    crew = report.get("crew") if isinstance(report.get("crew"), dict) else {}
    assert isinstance(crew, dict)
    fails: list[str] = []

    def differ(what: str, expected: Any, actual: Any) -> None:
        if expected is not None and expected != actual:
            fails.append(f"{what}: expected {expected!r}, got {actual!r}")

    differ("final agent", exp.final_agent, final_agent)
    if exp.hung_up is not None:
        differ("hung up", exp.hung_up, control.hung_up is not None)
    differ("transferred to", exp.transferred_to, control.transferred_to)
    differ("agents visited", exp.agents_visited, state.agents_visited)
    fails += _common(exp, turns, str(report.get("outcome")), crew)
    fails += _report_fields(exp, report)

    first_call: dict[str, int] = {}
    for t in turns:
        for e in t.events:
            if e["type"] == "tool_call":
                first_call.setdefault(e["name"], t.index + 1)
    for name, by_line in (exp.within_turns or {}).items():
        line = first_call.get(name)
        if line is None:
            fails.append(f"within turns: {name!r} was never called (wanted by line {by_line})")
        elif line > by_line:
            fails.append(
                f"within turns: {name!r} first called at caller line {line}, "
                f"wanted by line {by_line}"
            )

    if exp.opening_said is not None:
        opening = [e["text"] for t in turns if t.index < 0 for e in t.events if e["type"] == "say"]
        missing = _in_order(exp.opening_said, opening)
        if missing is not None:
            fails.append(
                f"opening said: {missing!r} not heard (in order) before the caller's first line; "
                f"heard {opening}"
            )

    fails += check_store(exp, store, profile)
    if exp.booked_on_call is not None:
        mine = sorted(
            _local_str(profile, a.start)
            for a in store.crew_data.appointments.all()
            if a.call_id == state.info.call_id and a.status == "booked"
        )
        want = sorted(_local_str(profile, _aware(profile, t)) for t in exp.booked_on_call)
        if mine != want:
            fails.append(f"booked on this call: expected {want}, got {mine}")
    return fails

"""Checks a rehearsal against the scenario's `expect` blocks: the call's end (against its
report and the crew's records), a turn's (right after that caller line), and a `calls:` file's
(the shared store after every call). The crew's own keys are checked by its `Rehearsal.check`.

Each failure is one readable line saying what was expected and what happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from callcrew.call import CallState
from callcrew.crews import LoadedCrew
from callcrew.profile import BusinessProfile
from callcrew.simulate.crewkit import CheckView, rehearsal_of, subset_problem
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
    return fails


def _crew_keys_set(exp: BaseModel, crew: LoadedCrew) -> bool:
    engine = set(Expectations.model_fields)
    return bool(exp.model_fields_set - engine) and rehearsal_of(crew).check is not None


def check_records(
    exp: StoreExpect,
    crew: LoadedCrew,
    store: Store,
    profile: BusinessProfile,
    *,
    crew_data: dict[str, Any],
    call_id: str | None,
    where: str = "",
) -> list[str]:
    """`store:` (a subset of the crew's snapshot), `crew:` (a subset of the call's crew data)
    and the crew's own keys, which its `Rehearsal.check` reads."""
    fails: list[str] = []
    kit = rehearsal_of(crew)
    needs_snapshot = exp.store is not None or _crew_keys_set(exp, crew)
    snapshot = crew.snapshot(store) if needs_snapshot else {}
    if exp.store is not None:
        problem = subset_problem(exp.store, snapshot, profile, "store")
        if problem:
            fails.append(f"{where}{problem}")
    wanted_crew = getattr(exp, "crew", None)
    if wanted_crew is not None:
        problem = subset_problem(wanted_crew, crew_data, profile, "crew")
        if problem:
            fails.append(f"{where}{problem}")
    if kit.check is not None:
        view = CheckView(snapshot, crew_data, profile, call_id, where)
        fails += kit.check(exp, view)
    return fails


def check_turn(
    exp: TurnExpect,
    log: TurnLog,
    state: CallState,
    store: Store,
    profile: BusinessProfile,
    crew: LoadedCrew,
) -> list[str]:
    """A turn's `expect:`, right after its caller line (the call is still going)."""
    where = f"after caller line {log.index + 1}: "
    extras = state.report_extras()
    fails = _common(exp, [log], str(state.outcome), extras, where)
    return fails + check_records(
        exp, crew, store, profile, crew_data=extras, call_id=state.info.call_id, where=where
    )


def _report_fields(exp: Any, report: dict[str, Any]) -> list[str]:
    fails: list[str] = []
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
    crew: LoadedCrew,
) -> list[str]:
    """The call's `expect:`; `turns` starts with the opening (index -1). The outcome checked is
    the report's, as stats and the CRM see it (a caller who hung up is `caller_hung_up`)."""
    exp = scenario.expect
    crew_data = report.get("crew") if isinstance(report.get("crew"), dict) else {}
    assert isinstance(crew_data, dict)
    fails: list[str] = []

    def differ(what: str, expected: Any, actual: Any) -> None:
        if expected is not None and expected != actual:
            fails.append(f"{what}: expected {expected!r}, got {actual!r}")

    differ("final agent", exp.final_agent, final_agent)
    if exp.hung_up is not None:
        differ("hung up", exp.hung_up, control.hung_up is not None)
    differ("transferred to", exp.transferred_to, control.transferred_to)
    differ("agents visited", exp.agents_visited, state.agents_visited)
    fails += _common(exp, turns, str(report.get("outcome")), crew_data)
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

    fails += check_records(
        exp, crew, store, profile, crew_data=crew_data, call_id=state.info.call_id
    )
    return fails

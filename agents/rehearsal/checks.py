"""The desk's `expect:` keys checked: appointments, customers, actions, changes, the message
for staff, what this call booked. Each failure is one line saying what was expected and what
happened."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from agents.desk_profile import desk
from agents.rehearsal.models import DeskCallExpect, DeskStoreExpect, DeskTurnExpect
from callcrew.profile import BusinessProfile
from callcrew.simulate.crewkit import CheckView


def _local_str(profile: BusinessProfile, when: datetime) -> str:
    aware = when.replace(tzinfo=profile.tz) if when.tzinfo is None else when
    return f"{aware.astimezone(profile.tz):%Y-%m-%dT%H:%M}"


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


def _store(exp: DeskStoreExpect, view: CheckView) -> list[str]:
    fails: list[str] = []
    where, profile = view.where, view.profile
    actual: list[dict[str, Any]] = list(view.snapshot.get("appointments", []))
    if exp.appointments is not None:
        want_rows = sorted(f"{_local_str(profile, e.start)} {e.status}" for e in exp.appointments)
        got_rows = sorted(f"{_local_str(profile, a['start'])} {a['status']}" for a in actual)
        if want_rows != got_rows:
            fails.append(f"{where}appointments: expected {want_rows}, store holds {got_rows}")
        for e in exp.appointments:
            at = _local_str(profile, e.start)
            match = [
                a
                for a in actual
                if _local_str(profile, a["start"]) == at and a["status"] == e.status
            ]
            if not match:
                continue
            a = match[0]
            where_at = f"{where}appointment at {at}"
            wanted = desk(profile).service(e.service) if e.service else None
            if e.service and (wanted is None or wanted.id != a["service"]):
                fails.append(f"{where_at}: service {a['service']!r}, expected {e.service!r}")
            if e.customer and e.customer not in (a["customer_phone"], a["customer_name"]):
                fails.append(
                    f"{where_at}: customer {a['customer_name']!r}, expected {e.customer!r}"
                )
    if exp.customers is not None:
        got = len(view.snapshot.get("customers", []))
        if got != exp.customers:
            fails.append(f"{where}customers in the store: expected {exp.customers}, got {got}")
    return fails


def _action_kinds(crew: dict[str, Any]) -> list[str] | None:
    actions = crew.get("actions")
    if not isinstance(actions, list):
        return None
    return [str(a.get("kind")) if isinstance(a, dict) else str(a) for a in actions]


def _turn(exp: DeskTurnExpect, view: CheckView) -> list[str]:
    if exp.actions is None:
        return []
    kinds = _action_kinds(view.crew)
    if kinds is None:
        return [f"{view.where}actions: the report's crew data has no actions list"]
    if kinds != exp.actions:
        return [f"{view.where}actions: expected {exp.actions}, got {kinds}"]
    return []


def _call(exp: DeskCallExpect, view: CheckView) -> list[str]:
    fails: list[str] = []
    crew, profile = view.crew, view.profile
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
    if exp.booked_on_call is not None:
        mine = sorted(
            _local_str(profile, a["start"])
            for a in view.snapshot.get("appointments", [])
            if a["call_id"] == view.call_id and a["status"] == "booked"
        )
        want = sorted(_local_str(profile, t) for t in exp.booked_on_call)
        if mine != want:
            fails.append(f"booked on this call: expected {want}, got {mine}")
    return fails


def check(exp: BaseModel, view: CheckView) -> list[str]:
    """Every desk key `exp` carries (a store's, a turn's or a call's expect)."""
    fails: list[str] = []
    if isinstance(exp, DeskCallExpect):
        fails += _call(exp, view)
    if isinstance(exp, DeskTurnExpect):
        fails += _turn(exp, view)
    if isinstance(exp, DeskStoreExpect):
        fails += _store(exp, view)
    return fails

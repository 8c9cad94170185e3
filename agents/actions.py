"""What a call did, in order, and the outcome those actions add up to.

The report's `outcome` is the net effect of the call: booking an appointment and then moving
that same appointment is one booking (`booked`), not a reschedule, and booking then cancelling
it leaves nothing changed. Stats and the CRM count outcomes, so they must count effects, not
the last tool that ran. `actions` keeps every step for whoever needs the detail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from agents.outcomes import DeskOutcome

ActionKind = Literal["booked", "moved", "cancelled", "listed", "message_taken", "transferred"]
ACTION_KINDS: tuple[ActionKind, ...] = (
    "booked",
    "moved",
    "cancelled",
    "listed",
    "message_taken",
    "transferred",
)


@dataclass(frozen=True)
class Action:
    """One thing the call did. `start` is the appointment's local start after the action
    (ISO, minutes), `previous_start` the one before a move."""

    kind: ActionKind
    appointment_id: int | None = None
    service: str | None = None
    start: str | None = None
    previous_start: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def net_outcome(actions: Sequence[Action]) -> DeskOutcome | None:
    """The appointment outcome of a call from its actions; None when nothing changed
    (nothing done, or only changes that cancel out)."""
    created: set[int] = set()
    effect: dict[int, str] = {}  # appointment id -> booked | moved | cancelled | gone
    for a in actions:
        if a.appointment_id is None:
            continue
        i = a.appointment_id
        if a.kind == "booked":
            created.add(i)
            effect[i] = "booked"
        elif a.kind == "moved":
            effect[i] = "booked" if i in created else "moved"
        elif a.kind == "cancelled":
            effect[i] = "gone" if i in created else "cancelled"
    kinds = set(effect.values())
    # One label per call: a new booking matters most to the business, then a move.
    for kind, outcome in (
        ("booked", DeskOutcome.BOOKED),
        ("moved", DeskOutcome.RESCHEDULED),
        ("cancelled", DeskOutcome.CANCELLED),
    ):
        if kind in kinds:
            return outcome
    return None

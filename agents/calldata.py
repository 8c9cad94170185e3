"""The typed userdata every agent of the crew reads and writes (one object per call)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.actions import Action, net_outcome
from agents.desk_profile import DeskProfile, desk
from agents.outcomes import DESK_OUTCOMES, DeskOutcome
from callcrew.call import CallState, CrewOutcome, Outcome


@dataclass
class CallData(CallState):
    customer_id: int | None = None
    customer_name: str | None = None
    reason: str | None = None
    # One line per change made on this call, spoken back by the wrap-up ("Booked a haircut ...").
    changes: list[str] = field(default_factory=list)
    booked_ids: list[int] = field(default_factory=list)
    # Every action in order (booked, moved, cancelled, listed, message taken, transferred).
    actions: list[Action] = field(default_factory=list)
    # Slot ids the desk has offered on this call: a never-offered id that is not free is refused.
    offered_slots: set[str] = field(default_factory=set)
    message_for_staff: str | None = None
    survey_answers: dict[str, str] = field(default_factory=dict)
    # Outbound calls: why we called, and about which appointment.
    purpose: str | None = None
    appointment_id: int | None = None
    appointment_text: str | None = None
    custom_text: str | None = None
    task: str = "appointments"
    prompts_dir: Path | None = None
    crew_outcomes: Sequence[CrewOutcome] = DESK_OUTCOMES

    @property
    def desk(self) -> DeskProfile:
        """The desk's typed section of the business profile (services, horizon, task)."""
        return desk(self.profile)

    def record_change(self, sentence: str) -> None:
        self.changes.append(sentence)

    def record_action(self, action: Action) -> None:
        """Log the action; an appointment change re-derives the outcome from the net effect."""
        self.actions.append(action)
        if action.kind in ("booked", "moved", "cancelled"):
            self.set_outcome(net_outcome(self.actions) or DeskOutcome.INFO)
        elif action.kind == "message_taken":
            self.set_outcome(Outcome.MESSAGE_TAKEN)
        elif action.kind == "transferred":
            self.set_outcome(Outcome.TRANSFERRED)

    def report_extras(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "customer_name": self.customer_name,
            "reason": self.reason,
            "changes": list(self.changes),
            "appointment_ids": list(self.booked_ids),
            "actions": [a.as_dict() for a in self.actions],
            "message_for_staff": self.message_for_staff,
            "survey_answers": dict(self.survey_answers),
        }

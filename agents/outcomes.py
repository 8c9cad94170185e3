"""The appointment desk's own outcomes, beside the engine's call-level ones (call.Outcome)."""

from __future__ import annotations

import enum

from callcrew.call import CrewOutcome


class DeskOutcome(enum.StrEnum):
    BOOKED = "booked"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    INFO = "info"  # questions answered, nothing changed
    SURVEY_DONE = "survey_done"
    CONFIRMED = "confirmed"  # an outbound confirmation call got its yes


DESK_OUTCOMES: tuple[CrewOutcome, ...] = (
    CrewOutcome(DeskOutcome.BOOKED.value, "a new appointment was booked"),
    CrewOutcome(DeskOutcome.RESCHEDULED.value, "an existing appointment was moved"),
    CrewOutcome(DeskOutcome.CANCELLED.value, "an existing appointment was cancelled"),
    # Not achieved: questions answered and nothing changed, so the way the call ends may say
    # more (a goodbye is `completed`).
    CrewOutcome(DeskOutcome.INFO.value, "questions answered, nothing changed", achieved=False),
    CrewOutcome(DeskOutcome.SURVEY_DONE.value, "every survey question was answered"),
    CrewOutcome(DeskOutcome.CONFIRMED.value, "an outbound confirmation call got its yes"),
)

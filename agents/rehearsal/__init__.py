"""The desk's rehearsals: its scenario keys (seed data, appointment expectations), their
checks, its judges, and the built-in demo call (`callcrew simulate` with no files)."""

from __future__ import annotations

from pathlib import Path

from agents.rehearsal.checks import check
from agents.rehearsal.models import (
    DeskCallExpect,
    DeskStoreExpect,
    DeskTurnExpect,
    SeedData,
    frontdesk_userdata,
)
from agents.rehearsal.store import rehearsal_profile, seed_store, snapshot_store
from callcrew.simulate.crewkit import Rehearsal

DEMO_SCENARIO = Path(__file__).resolve().parent.parent / "data" / "demo_call.yaml"

NO_INVENTED_SLOTS = (
    "Every appointment time the agent offers, confirms or books must appear in an output of "
    "a function call in the conversation (find_free_slots, book_appointment, ...). Fail if the "
    "agent names a time as free that no function output listed, agrees to a time the tools did "
    "not offer, or claims a booking no function output confirmed. Saying that a requested time "
    "is not available is correct, not a failure."
)
DESK_ROLE = (
    "You are the phone receptionist of {business}. Help the caller book, move, cancel or "
    "list appointments with the tools (only times the tools return are free), answer from the "
    "business facts, transfer to a person or take a message when asked, then wrap up."
)

DESK_REHEARSAL = Rehearsal(
    data=SeedData,
    store_expect=DeskStoreExpect,
    turn_expect=DeskTurnExpect,
    call_expect=DeskCallExpect,
    check=check,
    profile=rehearsal_profile,
    frontdesk=frontdesk_userdata,
    judges={"no_invented_slots": NO_INVENTED_SLOTS},
    default_judges=("task_completion", "no_invented_slots", "handoff", "politeness"),
    role=DESK_ROLE,
)

__all__ = ["DEMO_SCENARIO", "DESK_REHEARSAL", "seed_store", "snapshot_store"]

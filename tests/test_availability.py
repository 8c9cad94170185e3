"""agents/availability.py: what find_free_slots answers for a caller's own time, a window, a
closed day or a time already past, against a real store."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pytest
from agents.availability import Availability, parse_clock, parse_time_or_window
from agents.desk_profile import desk as desk_of
from livekit.agents import ToolError

from callcrew.profile import parse_profile

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("14:00", time(14)),
        ("9:30", time(9, 30)),
        ("2 pm", time(14)),
        ("2:30pm", time(14, 30)),
        ("12 am", time(0)),
        ("12pm", time(12)),
        ("11.15", time(11, 15)),
    ],
)
def test_parse_clock(text: str, wanted: time) -> None:
    assert parse_clock(text) == wanted


@pytest.mark.parametrize("text", ["noon", "25:00", "13 pm", "9:75", ""])
def test_parse_clock_refuses_with_the_expected_form(text: str) -> None:
    with pytest.raises(ToolError, match="use the form 14:00"):
        parse_clock(text)


def test_windows() -> None:
    assert parse_time_or_window("13:00-15:00") == (time(13), time(15))
    assert parse_time_or_window("11:00") == (time(11), None)
    with pytest.raises(ToolError, match="must end after it starts"):
        parse_time_or_window("15:00-13:00")


async def desk(make_call: Any, store: Any, *taken: str) -> Availability:
    state, _ = await make_call()
    other = store.crew_data.customers.create("Other", "+15550100077")
    for start in taken:
        at = datetime.fromisoformat(start).replace(tzinfo=state.profile.tz)
        store.crew_data.appointments.book(other.id, "haircut", at, at + timedelta(minutes=30))
    return Availability(state)


async def test_a_free_own_time_is_offered_and_remembered(make_call: Any, store: Any) -> None:
    avail = await desk(make_call, store)
    haircut = desk_of(avail.profile).service("haircut")
    assert haircut is not None
    text = await avail.answer(haircut, "2026-06-19", "11:00", "any")
    assert text == "Free Friday June 19 at 11 am:\n2026-06-19T11:00: Friday June 19 at 11 am"
    assert avail.state.offered_slots == {"2026-06-19T11:00"}


async def test_a_taken_own_time_offers_both_sides(make_call: Any, store: Any) -> None:
    avail = await desk(make_call, store, "2026-06-18T14:00")
    haircut = desk_of(avail.profile).service("haircut")
    assert haircut is not None
    text = await avail.answer(haircut, "2026-06-18", "2 pm", "any")
    assert text == (
        "Thursday June 18 at 2 pm is taken. Nearest free before and after:\n"
        "2026-06-18T13:30: Thursday June 18 at 1:30 pm\n"
        "2026-06-18T14:30: Thursday June 18 at 2:30 pm"
    )


async def test_a_time_outside_hours_says_why(make_call: Any, store: Any) -> None:
    avail = await desk(make_call, store)
    haircut = desk_of(avail.profile).service("haircut")
    assert haircut is not None
    text = await avail.answer(haircut, "2026-06-16", "18:00", "any")
    assert text.startswith(
        "Tuesday June 16 at 6 pm can't be booked: That time is outside our opening hours on "
        "Tuesday (9:00 to 17:00). Nearest free before and after:"
    )
    assert "2026-06-16T16:30" in text and "2026-06-17T09:00" in text


async def test_a_closed_day_says_so_with_the_next_open_days(make_call: Any, store: Any) -> None:
    avail = await desk(make_call, store)
    beard = desk_of(avail.profile).service("beard")
    assert beard is not None
    text = await avail.answer(beard, "2026-06-14", "", "any")
    assert text.startswith(
        "We're closed on Sundays. Next open days: Tuesday June 16 (9:00 to 17:00) and "
        "Wednesday June 17 (9:00 to 17:00). First free times:\n2026-06-16T09:00:"
    )
    # The other side too: the last free time before the closed day.
    assert text.endswith(
        "Nearest free before Sunday:\n2026-06-13T13:30: Saturday June 13 at 1:30 pm"
    )


async def test_a_past_time_says_so_and_offers_the_next_free_time(
    make_call: Any, store: Any
) -> None:
    avail = await desk(make_call, store, "2026-06-12T09:30")  # the clock: Friday 09:00
    haircut = desk_of(avail.profile).service("haircut")
    assert haircut is not None
    with pytest.raises(ToolError) as err:
        await avail.answer(haircut, "2026-06-12", "08:30", "any")
    assert str(err.value) == (
        "Friday June 12 at 8:30 am has already passed; it is 9 am now. The next free time "
        "after now:\n2026-06-12T10:00: Friday June 12 at 10 am"
    )
    with pytest.raises(ToolError, match=r"has already passed \(today is Friday June 12\)"):
        await avail.answer(haircut, "2026-06-09", "", "any")


async def test_a_full_day_looks_before_and_after(make_call: Any, store: Any) -> None:
    saturday = [f"2026-06-13T{h:02d}:{m:02d}" for h in range(10, 14) for m in (0, 30)]
    avail = await desk(make_call, store, *saturday)
    haircut = desk_of(avail.profile).service("haircut")
    assert haircut is not None
    text = await avail.answer(haircut, "2026-06-13", "", "any")
    assert text == (
        "Nothing free for a haircut on Saturday June 13. Nearest free before and after:\n"
        "2026-06-12T16:30: Friday June 12 at 4:30 pm\n"
        "2026-06-16T09:00: Tuesday June 16 at 9 am"
    )


async def test_a_time_needs_its_day(make_call: Any, store: Any) -> None:
    avail = await desk(make_call, store)
    haircut = desk_of(avail.profile).service("haircut")
    assert haircut is not None
    with pytest.raises(ToolError, match="A time needs its day"):
        await avail.answer(haircut, "", "11:00", "any")


async def test_a_time_the_clocks_skip_is_refused(make_call: Any, store: Any) -> None:
    state, _ = await make_call()
    data = {**state.profile.as_data(), "hours": {"sun": "01:00-05:00"}}
    profile = parse_profile(data, "test")
    state.profile = profile
    avail = Availability(state)
    haircut = desk_of(profile).service("haircut")
    assert haircut is not None
    with pytest.raises(ToolError, match="clocks go forward that night, so 2:30 am doesn't exist"):
        await avail.answer(haircut, "2027-03-14", "02:30", "any")

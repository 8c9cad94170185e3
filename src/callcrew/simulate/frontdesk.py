"""LiveKit frontdesk's scenario conventions on our desk: `available_slots` and `--tag`.

frontdesk seeds a fake calendar with the only free times. Our desk derives free times from
opening hours minus booked appointments, so a scenario's `available_slots` become:
  - opening hours widened where a listed slot falls outside them (frontdesk books on days our
    default salon is closed), and
  - "holds": appointments of a placeholder customer covering every other minute from the
    scenario's clock to past the last slot, so the real tools and the real store offer exactly
    the listed times and refuse the rest ("just taken") without any crew code knowing.
Holds are removed before the expectations are checked, so `appointments:` and `customers:`
see only what the call did.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import delete, select

from callcrew.profile import WEEKDAYS, BusinessProfile, Hours
from callcrew.store import Store

# frontdesk's SLOT_DURATION_MIN: every listed slot is a 30-minute appointment.
SLOT_MINUTES = 30
HOLD_CUSTOMER = "Unavailable (rehearsal hold)"
HOLD_SERVICE = "rehearsal-hold"


def _local(profile: BusinessProfile, when: datetime) -> datetime:
    return when.replace(tzinfo=profile.tz) if when.tzinfo is None else when.astimezone(profile.tz)


def _merge(windows: Iterable[Hours]) -> list[Hours]:
    out: list[Hours] = []
    for w in sorted(windows, key=lambda h: h.open):
        if out and w.open <= out[-1].close:
            if w.close > out[-1].close:
                out[-1] = Hours(open=out[-1].open, close=w.close)
        else:
            out.append(w)
    return out


def profile_for_slots(profile: BusinessProfile, slots: list[datetime]) -> BusinessProfile:
    """The profile with each listed slot inside an opening window of its weekday."""
    hours: dict[str, list[Hours]] = {day: list(ws) for day, ws in profile.hours.items()}
    for slot in slots:
        start = _local(profile, slot)
        end = start + timedelta(minutes=SLOT_MINUTES)
        day = WEEKDAYS[start.weekday()]
        close = time(23, 59) if end.date() != start.date() else end.time()
        inside = any(w.open <= start.time() and close <= w.close for w in hours.get(day, []))
        if not inside:
            hours[day] = [*hours.get(day, []), Hours(open=start.time(), close=close)]
    merged = {day: _merge(ws) for day, ws in hours.items()}
    return profile.model_copy(update={"hours": merged})


def hold_intervals(
    profile: BusinessProfile, slots: list[datetime], now: datetime
) -> list[tuple[datetime, datetime]]:
    """Every interval from the start of the scenario's day to past the last slot that is not a
    listed slot, as aware local pairs."""
    starts = sorted({_local(profile, s) for s in slots})
    today = _local(profile, now).replace(hour=0, minute=0, second=0, microsecond=0)
    # To the end of the booking horizon: no day the desk could offer is left unheld.
    horizon_end = today + timedelta(days=cast(Any, profile.section).booking_horizon_days + 2)
    out: list[tuple[datetime, datetime]] = []
    cursor = today
    for start in starts:
        if start > cursor:
            out.append((cursor, start))
        cursor = max(cursor, start + timedelta(minutes=SLOT_MINUTES))
    if cursor < horizon_end:
        out.append((cursor, horizon_end))
    return out


def seed_available_slots(
    store: Store, profile: BusinessProfile, slots: list[datetime], now: datetime
) -> int:
    """Hold everything but `slots`; returns how many holds were placed."""
    holder = store.crew_data.customers.create(HOLD_CUSTOMER)
    intervals = hold_intervals(profile, slots, now)
    for start, end in intervals:
        store.crew_data.appointments.book(holder.id, HOLD_SERVICE, start, end)
    return len(intervals)


def scenario_profile(scenario: Any, profile: BusinessProfile) -> BusinessProfile:
    """The profile a scenario runs on: widened for its `available_slots`, if it lists any."""
    if scenario.available_slots is None:
        return profile
    return profile_for_slots(profile, scenario.available_slots)


def seed_scenario(store: Store, scenario: Any, profile: BusinessProfile, now: datetime) -> None:
    if scenario.available_slots is not None:
        seed_available_slots(store, profile, scenario.available_slots, now)


def release_holds(store: Store) -> None:
    """Remove the holds (and their placeholder customer) so checks see only the call's work."""
    # The crew's tables (this moves into the desk crew with the rest of the frontdesk).
    tables = store.tables[0].metadata.tables
    customer, appointment = tables["customers"], tables["appointments"]
    with store.engine.begin() as conn:
        ids = [
            row[0]
            for row in conn.execute(select(customer.c.id).where(customer.c.name == HOLD_CUSTOMER))
        ]
        if ids:
            conn.execute(delete(appointment).where(appointment.c.customer_id.in_(ids)))
            conn.execute(delete(customer).where(customer.c.id.in_(ids)))


def _tag_matches(tags: dict[str, Any], wanted: str) -> bool:
    if "=" in wanted:
        key, value = wanted.split("=", 1)
        return str(tags.get(key.strip())) == value.strip()
    return wanted in tags or wanted in {str(v) for v in tags.values()}


def select_tags(scenarios: list[Any], wanted: list[str]) -> list[Any]:
    """Scenarios whose `tags` match any of `wanted` ("booking" or "feature=booking")."""
    if not wanted:
        return scenarios
    return [s for s in scenarios if any(_tag_matches(s.tags, w) for w in wanted)]

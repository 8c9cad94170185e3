"""A rehearsal's store for the desk: seeded from the scenario's `data:`, read back as a snapshot.

frontdesk's `available_slots` (the only free times) become "holds": appointments of a
placeholder customer covering every other minute from the scenario's clock to past the booking
horizon, so the real tools and the real store offer exactly the listed times and refuse the rest
("just taken") without any agent knowing; the opening hours widen where a listed slot falls
outside them (frontdesk books on days our default salon is closed). The snapshot leaves the holds
out, so `expect:` sees only what the calls did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta
from typing import Any

from pydantic import ValidationError

from agents.desk_profile import desk
from agents.desk_store import SlotTaken, desk_data
from agents.rehearsal.models import SeedData
from callcrew.errors import UserError
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


def rehearsal_profile(profile: BusinessProfile, data: Mapping[str, Any]) -> BusinessProfile:
    """The profile a scenario runs on: widened for its `available_slots`, if it lists any."""
    slots = data.get("available_slots")
    if slots is None:
        return profile
    return profile_for_slots(
        profile, SeedData.model_validate({"available_slots": slots}).available_slots or []
    )


def hold_intervals(
    profile: BusinessProfile, slots: list[datetime], now: datetime
) -> list[tuple[datetime, datetime]]:
    """Every interval from the start of the scenario's day to past the last slot that is not a
    listed slot, as aware local pairs."""
    starts = sorted({_local(profile, s) for s in slots})
    today = _local(profile, now).replace(hour=0, minute=0, second=0, microsecond=0)
    # To the end of the booking horizon: no day the desk could offer is left unheld.
    horizon_end = today + timedelta(days=desk(profile).booking_horizon_days + 2)
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
    data = desk_data(store)
    holder = data.customers.create(HOLD_CUSTOMER)
    intervals = hold_intervals(profile, slots, now)
    for start, end in intervals:
        data.appointments.book(holder.id, HOLD_SERVICE, start, end)
    return len(intervals)


def seed_store(
    store: Store, data: Mapping[str, Any], now: datetime, profile: BusinessProfile
) -> None:
    """The scenario's customers and appointments (and frontdesk's holds) into the store."""
    try:
        seed = SeedData.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise UserError(f"data.{loc}: {str(first['msg']).removeprefix('Value error, ')}") from None
    records, section = desk_data(store), desk(profile)
    ids: dict[str, int] = {}
    for c in seed.customers:
        rec = records.customers.create(c.name, c.phone)
        ids[c.name] = rec.id
        if c.phone:
            ids[c.phone] = rec.id
    for i, a in enumerate(seed.appointments):
        service = section.service(a.service)
        if service is None:
            raise UserError(f"data.appointments: unknown service {a.service!r}")
        start = _local(profile, a.start) if a.start.tzinfo is None else a.start
        end = start + timedelta(minutes=service.duration_minutes)
        try:
            appt = records.appointments.book(ids[a.customer], service.id, start, end)
        except SlotTaken:
            raise UserError(
                f"data.appointments[{i}]: {a.start:%Y-%m-%d %H:%M} overlaps another seeded "
                "appointment"
            ) from None
        if a.status == "cancelled":
            records.appointments.cancel(appt.id, ids[a.customer])
    if seed.available_slots is not None:
        seed_available_slots(store, profile, seed.available_slots, now)


def snapshot_store(store: Store) -> dict[str, Any]:
    """The desk's records, holds left out: customers and appointments (times aware, UTC)."""
    records = desk_data(store)
    customers = {c.id: c for c in records.customers.all() if c.name != HOLD_CUSTOMER}
    appointments = []
    for a in records.appointments.all():
        c = customers.get(a.customer_id)
        if c is None:
            continue  # a hold
        appointments.append(
            {
                "id": a.id,
                "customer": c.phone or c.name,
                "customer_name": c.name,
                "customer_phone": c.phone,
                "service": a.service_id,
                "start": a.start,
                "end": a.end,
                "status": a.status,
                "call_id": a.call_id,
            }
        )
    return {
        "customers": [{"id": c.id, "name": c.name, "phone": c.phone} for c in customers.values()],
        "appointments": appointments,
    }

"""telephony/dial_call.py: one call's number (E.164), room and callee identity; the purpose's
data (telephony/purposes.py) and the desk's purposes (agents/purposes.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from agents.purposes import AppointmentCall
from pydantic import BaseModel

from callcrew.call import CallInfo, Channel, Purpose
from callcrew.crews import load_crew
from callcrew.telephony.dial_call import build_call, normalize_number, room_name
from callcrew.telephony.outbound import callee_identity
from callcrew.telephony.purposes import (
    CUSTOM,
    describe_fields,
    find_purpose,
    parse_pairs,
    purpose_names,
    validate_data,
)

pytestmark = pytest.mark.unit

ROOM_RE = re.compile(r"^call-out-[0-9a-f]{12}$")


# --- numbers and metadata -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+1 (415) 555-0132", "US", "+14155550132"),
        ("415.555.0132", "US", "+14155550132"),
        ("020 7183 8750", "GB", "+442071838750"),
        ("+44 20 7183 8750", "US", "+442071838750"),
    ],
)
def test_numbers_are_normalised_to_e164(raw: str, region: str, e164: str) -> None:
    assert normalize_number(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "no phone number"),
        ("call me", "not a phone number"),
        ("12345", "not a possible phone number"),
        ("+1 555 010 0000", "not a valid, assigned phone number"),
    ],
)
def test_bad_numbers_say_why(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalize_number(raw, "US")


def test_fictional_numbers_need_the_test_flag() -> None:
    assert normalize_number("+1 555 010 0000", allow_unassigned=True) == "+15550100000"


def test_room_names_and_callee_identities_are_opaque() -> None:
    """LiveKit logs every room name and identity: neither may carry the number."""
    a, b = room_name(), room_name()
    assert a != b and ROOM_RE.match(a) and ROOM_RE.match(b)
    info = CallInfo(channel=Channel.OUTBOUND, room=a, caller_number="+14155550132")
    identity = callee_identity(info)
    assert identity.startswith("callee-") and "4155550132" not in identity
    assert identity != callee_identity(CallInfo(channel=Channel.OUTBOUND, room=b))


def test_the_engines_custom_purpose_takes_any_fields_and_the_crews_are_listed() -> None:
    crew = load_crew()
    assert purpose_names(crew) == ["custom", "reminder", "confirm"]
    assert validate_data(CUSTOM, {"note": "bring ID", "n": 2}) == {"note": "bring ID", "n": 2}
    with pytest.raises(ValueError, match="purpose 'sell' is not one of custom, reminder, confirm"):
        find_purpose(crew, "sell")


def test_purpose_data_errors_name_the_purpose_and_its_fields() -> None:
    reminder = find_purpose(load_crew(), "reminder")
    assert reminder.data is AppointmentCall
    # Typed by people: "42" is an id; campaign columns ride along.
    assert validate_data(reminder, {"appointment_id": "42", "name": "Dana"}) == {
        "appointment_id": 42,
        "name": "Dana",
    }
    with pytest.raises(ValueError) as info:
        validate_data(reminder, {"appointment_id": "0x2"})
    assert str(info.value) == (
        "purpose 'reminder': appointment_id: appointment id '0x2' is not a number (digits 0-9 "
        "only, 1 to 2147483647) (its data: appointment_id (required: the appointment the call is "
        "about), message (a line for the opening), any other key=value)"
    )

    class Strict(BaseModel):
        order_id: int

    assert describe_fields(Strict) == "order_id (required)"
    with pytest.raises(ValueError, match=r"purpose 'order': order_id: Field required"):
        validate_data(Purpose("order", "about an order", Strict), {})


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["note"], "--data 'note' is not key=value"),
        (["=x"], "--data '=x' is not key=value"),
        (["a=1", "a=2"], "--data a is given twice"),
    ],
)
def test_data_pairs(pairs: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_pairs(pairs)


def test_data_pairs_keep_everything_after_the_first_equals_sign() -> None:
    assert parse_pairs(["note=a=b", "empty="]) == {"note": "a=b", "empty": ""}


def test_a_call_request_carries_the_validated_data() -> None:
    call: Any = build_call(
        "(415) 555-0132",
        crew=load_crew(),
        purpose="confirm",
        data={"appointment_id": "7"},
        trunk=None,
        region="US",
        allow_unassigned=False,
    )
    assert call.metadata.data == {"appointment_id": 7} and ROOM_RE.match(call.room)
    with pytest.raises(ValueError, match="no purpose"):
        build_call(
            "+14155550132",
            crew=load_crew(),
            purpose=None,
            data={},
            trunk=None,
            region="US",
            allow_unassigned=False,
        )

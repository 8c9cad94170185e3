"""The dictation-aware text turn detector (providers/turn_words.py): what counts as a caller
still dictating, and that it speaks LiveKit's turn-detector protocol."""

from __future__ import annotations

import pytest
from livekit.agents import llm

from callcrew.providers.turn_words import THRESHOLD, DictationTurnDetector, incomplete

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "said",
    [
        "My number is",
        "My number is five five five",
        "It's oh seven seven, nine double eight",  # 5 digits: short of a phone number
        "The name is spelled R A M",
        "My email is priya dot raman",  # an email without its domain yet
        "Um",
        "Let me think",
        "I'd like to come in on",
        "I live at twelve",
        "Booking reference A B",
    ],
)
def test_still_dictating(said: str) -> None:
    assert incomplete(said)


@pytest.mark.parametrize(
    "said",
    [
        "Hi, I'd like to book a haircut for next week.",
        "It's Priya Raman.",
        "Yes.",
        "My email is priya dot raman at example dot com.",
        "Area code four one five, five five five, two six eight one.",  # 10 digits
        "Any time after four works.",
        "",
    ],
)
def test_finished(said: str) -> None:
    assert not incomplete(said)


def test_punctuation_is_ignored() -> None:
    # an STT's full stop after a pause is not the caller finishing
    assert incomplete("My number is five five five.") == incomplete("my number is five five five")


async def test_protocol_answers_from_the_last_user_message() -> None:
    det = DictationTurnDetector()
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="assistant", content="What's your number?")
    ctx.add_message(role="user", content="It's five five five")
    assert await det.predict_end_of_turn(ctx) < THRESHOLD == await det.unlikely_threshold("en")
    ctx.add_message(role="user", content="Thanks, that's all.")
    assert await det.predict_end_of_turn(ctx) > THRESHOLD
    assert await det.supports_language("en") and not await det.supports_language("de")

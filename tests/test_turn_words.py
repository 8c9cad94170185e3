"""The dictation-aware text turn detector (providers/turn_words.py): what counts as a caller
still dictating, and that it speaks LiveKit's turn-detector protocol."""

from __future__ import annotations

import asyncio

import pytest
from livekit.agents import llm

from callcrew.providers.turn_words import (
    HEDGE_HOLD_S,
    HOLD_S,
    LIKELY,
    THRESHOLD,
    UNLIKELY,
    DictationTurnDetector,
    hold_for,
    incomplete,
    last_turn,
    verdict,
)

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
        "Let me check my calendar",  # looking something up
        "Send it to bookings at green",  # an email on its way to its domain
    ],
)
def test_still_dictating(said: str) -> None:
    assert verdict(said) == "mid"
    assert incomplete(said)


@pytest.mark.parametrize(
    "said",
    [
        "I live at twelve Baker Street",  # a flat, a town, a postcode may follow
        "Unit seven, the Old Mill",
        "My surname is Whitfield",  # a lone surname: the spelling usually follows
        "First name Siobhan",
        "The address is j smith",
        "j smith underscore forty two at example",  # an email, no cue said
        "My date of birth is the fourth of March",  # no year yet
        "The twenty third",  # no month yet
    ],
)
def test_open_dictation_waits_the_hold(said: str) -> None:
    assert verdict(said) == "open"


def test_a_finished_dictation_commits() -> None:
    assert verdict("My date of birth is the fourth of March nineteen eighty nine") != "done"
    assert verdict("My name is Daniel Okafor") == "done"  # a full name, not a lone surname
    assert verdict("Mm-hmm.") == "done" and verdict("Hmm,") == "mid"  # a yes vs thinking
    assert verdict("I'd like to come in on Thursday, around three") == "done"  # a time
    assert verdict("Let me check my calendar, okay, Friday works for me") == "done"
    assert verdict("Send it to bookings at greenhair dot net") == "done"


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


@pytest.mark.parametrize("said", ["Hello!", "Hi there, good morning.", "Oh, hello.", "Morning."])
def test_a_greeting_alone_waits_for_the_reason_for_the_call(said: str) -> None:
    # the local loop at 0.25-0.4 s of VAD silence answered "Hello!" before "I'd like to ..."
    assert verdict(said, "How can I help you today?") == "open"
    assert verdict(said) == "open"


@pytest.mark.parametrize("said", ["Hello, yes.", "Hi, I'd like a cut.", "Good.", "Yes, hello."])
def test_a_greeting_with_an_answer_is_not_held(said: str) -> None:
    assert verdict(said, "Is that Priya?") == "done"


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


async def test_an_open_dictation_holds_then_commits_unless_the_caller_goes_on() -> None:
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content="My surname is Whitfield")
    # the hold is the prediction's own wait; then "finished"
    assert await DictationTurnDetector(hold_s=0.01).predict_end_of_turn(ctx) == LIKELY
    # without a hold it waits max_delay, like a pause mid-item
    assert await DictationTurnDetector(hold_s=None).predict_end_of_turn(ctx) == UNLIKELY
    # the session cancels a pending prediction when the caller speaks again
    task = asyncio.ensure_future(DictationTurnDetector(hold_s=5).predict_end_of_turn(ctx))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_protocol_reads_the_agents_question() -> None:
    # the agent's last message before the caller's words is the question they answer; its
    # list noun is the crew's ("services"), given to the detector
    det = DictationTurnDetector(hold_s=None, list_nouns=frozenset({"services"}))
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="assistant", content="Hello, Maple Street Salon.")
    ctx.add_message(role="user", content="Hi, I'd like to book.")
    ctx.add_message(role="assistant", content="Great! And which services were you thinking of?")
    ctx.add_message(role="user", content="I'd like a cut")
    assert last_turn(ctx) == ("I'd like a cut", "Great! And which services were you thinking of?")
    assert await det.predict_end_of_turn(ctx) == UNLIKELY  # one item of a list: hold
    # without the crew's nouns the question asks for nothing the engine knows: commit
    assert await DictationTurnDetector(hold_s=None).predict_end_of_turn(ctx) == LIKELY
    ctx.add_message(role="user", content="Just a cut, please.")
    assert await det.predict_end_of_turn(ctx) == LIKELY  # the whole answer: commit


async def test_protocol_without_a_question_is_unchanged() -> None:
    det = DictationTurnDetector(hold_s=None)
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content="I'd like a cut")
    assert last_turn(ctx) == ("I'd like a cut", None)
    assert await det.predict_end_of_turn(ctx) == LIKELY
    assert last_turn(llm.ChatContext.empty()) == ("", None)


def test_each_verdict_holds_its_own_time() -> None:
    assert hold_for("open", HOLD_S) == HOLD_S
    assert hold_for("hedged", HOLD_S) == HEDGE_HOLD_S < HOLD_S  # its words may be all
    assert hold_for("hedged", 0.3) == 0.3  # never longer than the configured hold
    assert hold_for("done", HOLD_S) is None and hold_for("mid", HOLD_S) is None
    assert hold_for("open", None) is None and hold_for("hedged", None) is None  # max_delay


async def test_a_hedged_answer_holds_then_commits() -> None:
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="assistant", content="Who's the appointment for?")
    ctx.add_message(role="user", content="Well, it's for my son")
    assert await DictationTurnDetector(hold_s=0.01).predict_end_of_turn(ctx) == LIKELY
    assert await DictationTurnDetector(hold_s=None).predict_end_of_turn(ctx) == UNLIKELY
    ctx.add_message(role="user", content="Well, it's for my son, thanks")  # closed: at once
    assert await DictationTurnDetector(hold_s=None).predict_end_of_turn(ctx) == LIKELY

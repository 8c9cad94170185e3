"""The agent's question as turn-taking evidence (providers/turn_question.py): what a question
asks for, and when an answer so far covers only part of it; through the word detector's
verdict (providers/turn_words.py), that a complete answer still commits at once.

The questions are the desk's, so they are read with the desk crew's list nouns
(`Crew.list_nouns`), as its sessions read them; the engine's own nouns need no crew."""

from __future__ import annotations

import pytest
from agents.crew import CREW

from callcrew.providers.turn_question import LIST_NOUNS, asked_for, hedged, leaves_open
from callcrew.providers.turn_words import verdict, words

pytestmark = pytest.mark.unit

DESK = CREW.list_nouns


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("Which services would you like?", {"list"}),
        ("Great! And which services were you thinking of today?", {"list"}),  # LLM phrasing
        ("Sure, a family booking. Who are the appointments for?", {"list"}),
        ("Which days are good for you?", {"day", "list"}),
        ("What day and time would suit you?", {"day", "time"}),
        ("And what time on Wednesday works for you?", {"time"}),
        ("Could you spell that?", {"name", "spelling"}),
        ("Would you mind spelling that for me?", {"name", "spelling"}),
        ("Could I get your last name, and how do you spell it?", {"name", "spelling"}),
        ("Can I take your full name, please?", {"name", "full_name"}),
        ("Can I take your name and number?", {"name", "phone"}),
        ("What's your email address?", {"email"}),
        ("And what's your home address?", {"address"}),
        ("Can I have your date of birth, please?", {"birth_date"}),  # not a "date" to book
        ("Do you have your booking reference number?", {"yes_no"}),
        ("I have Thursday at one. Does that work for you?", {"yes_no"}),
        ("Shall I book that for you?", {"yes_no"}),
        ("Perfect, does Thursday at three work?", {"yes_no"}),  # after an acknowledgement
        ("Could I put you on hold for a moment?", {"yes_no"}),  # not a request for data
        ("What are the last four digits of the card?", set()),  # a card, not a phone number
        ("Read me the cards in your hand, please. Which ones are they?", {"list"}),
        ("Which day suits you? I have times on Monday and Tuesday.", {"day"}),  # questions only
        ("Shall I book it? And what name should I put it under?", {"name"}),
        ("Sure. Can I take a number? And an email too.", {"phone"}),
        ("Please spell your surname for me.", {"name", "spelling"}),  # no question: last sentence
        ("How can I help you today?", set()),
        ("When suits you?", set()),
        ("Great, you're all booked for Friday at ten.", set()),  # a statement asks nothing
        ("", set()),
    ],
)
def test_what_a_question_asks_for(question: str, asks: set[str]) -> None:
    assert asked_for(question, DESK) == frozenset(asks)


def test_a_crews_noun_makes_a_list_question_only_with_the_crews_words() -> None:
    question = "Which treatments would you like?"
    assert asked_for(question, DESK) == {"list"}
    assert asked_for(question) == frozenset()  # the engine alone: a question it cannot read
    assert verdict("A facial", question, DESK) == "open"  # one item: the rest may follow
    assert verdict("A facial", question) == "done"
    # another crew's vocabulary, not the desk's
    assert asked_for("Which toppings would you like?", frozenset({"toppings"})) == {"list"}
    assert asked_for("Which toppings would you like?", DESK) == frozenset()


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("Which days are good for you?", {"day", "list"}),
        ("Which items would you like to order?", {"list"}),
        ("Who are the people coming along?", {"list"}),
        ("What options were you considering?", {"list"}),
        ("Which cards are you holding?", {"list"}),
    ],
)
def test_the_engines_own_list_nouns_need_no_crew(question: str, asks: set[str]) -> None:
    assert asked_for(question) == frozenset(asks)
    assert verdict("Monday", "Which days are good for you?") == "open"


def test_the_engine_knows_calls_not_appointments() -> None:
    # the desk's words are the desk's: none is left in the engine, and the desk declares them
    assert not LIST_NOUNS & DESK
    assert {"services", "treatments", "appointments", "bookings", "styles"} <= DESK


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Which services would you like?", "I'd like a cut"),  # one item, no "and"
        ("Great! And which services were you thinking of today?", "Colour, highlights"),
        ("Which days are good for you?", "Monday"),
        ("Who are the appointments for?", "For me, my wife"),
        ("Could I get your last name, and how do you spell it?", "It's Nguyen"),
        ("Could you spell that?", "Sure, it's Whitfield"),
        ("What day and time would suit you?", "Monday"),  # a day, no time yet
        ("What day and time would suit you?", "Next Tuesday"),
        ("Can I take your full name, please?", "It's Priya"),
        ("Can I take your name and number?", "It's Priya Raman"),  # the number is to come
        ("Can I have your date of birth, please?", "The fourth of March"),  # no year
        ("What's your email address?", "It's priya raman"),  # no domain
        ("Can I take your address, please?", "Twelve Baker Street"),  # a town may follow
    ],
)
def test_a_partial_answer_holds(question: str, answer: str) -> None:
    assert verdict(answer) == "done"  # the words alone: a finished answer
    assert verdict(answer, question, DESK) == "open"  # the question: only part of it


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Which services would you like?", "I'd like a cut, a wash and a blow dry"),
        ("Which services would you like?", "Just a cut, please."),
        ("Which services would you like?", "Colour, highlights, that's it"),
        ("Which days are good for you?", "Monday, Wednesday or Friday"),
        ("Which services would you like?", "What do you offer?"),  # a question back
        ("Which services would you like?", "Sorry, I'm not sure yet"),
        ("What day and time would suit you?", "Wednesday morning if you can."),
        ("What day and time would suit you?", "Any time after four works."),  # no day: any
        ("When suits you?", "Any time after four works."),
        ("Does that work for you?", "Yes."),
        ("Shall I book that for you?", "Yes, please."),
        ("Shall I book that for you?", "No thanks."),
        ("Can I take your name, please?", "It's Priya Raman."),
        ("Can I take your name, please?", "Priya"),  # a first name answers "your name"
        ("Can I take your name and number?", "Priya, five five five, zero one two three, thanks"),
        ("Could you spell that?", "Yes"),  # nothing given yet: no partial answer to wait on
        ("What's your email address?", "priya dot raman at example dot com"),
        ("Can I have your date of birth, please?", "March the fourth, 1989, thanks"),
        ("How can I help you today?", "Hi, I'd like to book a haircut for next week."),
        ("Great, you're all booked for Friday at ten.", "Perfect, thank you."),
    ],
)
def test_a_complete_answer_commits_at_once(question: str, answer: str) -> None:
    # "done": the session commits after min_delay, as with no question
    assert verdict(answer, question, DESK) == verdict(answer) == "done"


def test_no_question_is_todays_behaviour() -> None:
    lines = [
        "I'd like a cut", "It's Nguyen", "Monday", "My number is five five five", "Yes.",
        "My surname is Whitfield", "The name is spelled R A M", "",
    ]  # fmt: skip
    for said in lines:
        assert verdict(said, None) == verdict(said, "") == verdict(said)
        # a question that asks for nothing known changes nothing either
        assert verdict(said, "How can I help you today?") == verdict(said)


def test_the_question_never_shortens_a_wait() -> None:
    # mid-item and open-dictation verdicts stand whatever was asked
    assert verdict("My number is five five five", "Does that work for you?") == "mid"
    assert verdict("My surname is Whitfield", "Shall I book it?") == "open"
    assert verdict("Monday at", "What day and time would suit you?") == "mid"


def test_a_finished_spelling_commits() -> None:
    # the letters spell a word said before them, or the word the agent asked about
    assert verdict("It's Nguyen, N G U Y E N", "How do you spell it?") == "done"
    assert verdict("That's O K A F O R", "And how do you spell Okafor?") == "done"
    assert verdict("That's O K A F O R") == "mid"  # which word it spells is unknown
    assert verdict("My surname is Whitfield, W H I T") == "mid"  # half spelled


def test_leaves_open_needs_something_asked_and_something_said() -> None:
    assert not leaves_open(frozenset(), words("I'd like a cut"))
    assert not leaves_open(frozenset({"list"}), words("um"))
    assert leaves_open(frozenset({"list"}), words("a trim"))


@pytest.mark.parametrize(
    "question",
    [
        "Who's the appointment for?",
        "Which day works best for you?",
        "Great. And what can I do for you today?",
        "I have Monday and Tuesday. Which suits you?",  # its question, not its statement
        "Maple Street Salon, how can I help you?",  # the wh-word opens a later clause
    ],
)
def test_a_well_prefaced_answer_to_a_wh_question_is_hedged(question: str) -> None:
    answer = "Well, it's for my son"
    assert hedged(question, words(answer))
    assert verdict(answer) == "done"  # the words alone: finished
    assert verdict(answer, question, DESK) == "hedged"


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Who's the appointment for?", "It's for my son"),  # no "well"
        ("Who's the appointment for?", "Well"),  # nothing after it yet (a "mid" pause)
        ("Who's the appointment for?", "Well, it's for my wife, thanks"),  # closed
        ("What can I do for you today?", "Well, just a trim, please"),
        ("Which days are good for you?", "Well, that's it"),
        ("Who's the appointment for?", "Well, I don't know yet"),  # went elsewhere
        ("Do you have a stylist you'd like to see?", "Well, my daughter sees Anna"),  # yes/no
        ("Could I take your name?", "Well, it's Marcus"),  # a request, not a wh-question
        ("Great, you're all booked for Friday at ten.", "Well, thank you"),  # a statement
    ],
)
def test_a_closed_or_unhedged_answer_is_not(question: str, answer: str) -> None:
    assert not hedged(question, words(answer))
    assert verdict(answer, question, DESK) != "hedged"

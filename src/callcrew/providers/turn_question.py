"""What the agent's question asked for, and whether the caller's answer so far covers only part
of it: the word turn detector's (providers/turn_words.py) second source of evidence.

The words alone cannot tell "I'd like a cut, ..." (a list on its way) from "I'd like a cut."
(the whole answer), or "It's Nguyen, ..." (the spelling follows) from "It's Nguyen." (done):
on the turn-taking corpus these were the dictation lines still cut off (docs/benchmarks.md).
The question that elicited them can: after "Which services would you like?" a list is
expected, after "Could you spell that?" letters, after "What day and time?" a day alone is
half the answer. So:

- `asked_for(question, list_nouns)`: the things the agent's last message asks for (`ASKS`),
  read from its questions, not the statements around them (real LLM phrasing varies: "Great!
  And which services were you thinking of today?"); a yes/no question asks for a yes or no
  only, a statement (its last sentence is read) or an unknown question for nothing. A list
  is asked for by a plural noun after which/what/who: the engine's own nouns are any
  business's (days, people, items...); a crew adds its domain's (`Crew.list_nouns`: the
  desk's services, appointments...), since the engine knows calls, not what they are about;
- `leaves_open(asked, words)`: True when the answer so far plainly covers only part of it (one
  list item with no "and"/"or" and no "just"/"please"; a day without a time; a name without
  its spelling; a date of birth without its year; an email without its domain; an address,
  whose end no words show). An answer that covers nothing (a question back, "no", "sorry?")
  leaves nothing open: the caller went elsewhere, and waiting would only slow them;
- `hedged(question, words)`: an answer to a wh-question that opens with "well" ("Well, it's
  for my son, ... he's ten."). Conversation analysts find that "well" before an answer to a
  wh-question projects an answer that is not the simple one asked for: more is coming (Schegloff
  and Lerner, 2009). The words of such an answer can be complete at every pause, so the
  question and the "well" are the only sign; "please", "thanks" or "that's it" close it.

Pure and deterministic; the session pays the word detector's hold only when this says open
(or hedged).
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise

from callcrew.providers.turn_words import (
    DIGITS,
    GOES_ON,
    MONTHS,
    NUMBER_WORDS,
    ORDINALS,
    TIME_WORDS,
    TLDS,
    digit_count,
    is_letter,
    words,
)

# What a question can ask for.
ASKS = (
    "list", "day", "time", "name", "full_name", "spelling", "phone", "email", "address",
    "birth_date", "yes_no",
)  # fmt: skip

_AUX = {
    "do", "does", "did", "is", "are", "was", "were", "can", "could", "would", "will", "shall",
    "should", "may", "have", "has", "am",
}  # fmt: skip
_WH = {"which", "what", "what's", "whats", "who", "who's", "whose", "when", "where", "how"}
# "Could I take your name?", "Can you spell that?": requests phrased as yes/no questions.
_REQUEST = re.compile(
    r"^(?:(?:and|so|great|okay|ok|perfect|lovely|right|sure|thanks|thank you)\s+)*"
    r"(?:can|could|may|would|will)\s+(?:i|we|you)\s+(?:please\s+)?"
    r"(?:have|get|take|grab|spell|give|tell|provide|read|send|let|confirm|mind)\b"
)
# Plural nouns after which/what/who: the answer is a list ("Which days are good for you?").
# Only words any business asks lists of; a crew's own ("services") come as `list_nouns`.
LIST_NOUNS = frozenset({"days", "dates", "times", "people", "cards", "items", "things", "options"})
_PATTERNS: dict[str, re.Pattern[str]] = {
    "spelling": re.compile(r"\b(spell|spelled|spelt|spelling)\b"),
    "full_name": re.compile(r"\bfull name\b"),
    "name": re.compile(
        r"\b(name|surname|who am i speaking|who is calling|who's calling|who i'm speaking)\b"
    ),
    "email": re.compile(r"\b(email address|e mail address|(your|the|an|what|which) e ?mail)\b"),
    "phone": re.compile(r"\b(phone|mobile|cell|telephone|callback|number)\b"),
    "address": re.compile(r"\b(address|post ?code|zip( code)?|where do you live)\b"),
    "birth_date": re.compile(r"\b(date of birth|birth date|birthday|born|dob)\b"),
    "day": re.compile(r"\b(day|days|date|dates)\b"),
    "time": re.compile(r"\b(time|times)\b"),
}
_NOT_PHONE = re.compile(
    r"\b(card|reference|booking|house|flat|room|order|account|policy|membership|how many)\b"
)
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")

# Answer words that say the caller went elsewhere (a refusal, a question back).
_ELSEWHERE = {
    "no", "nope", "none", "nothing", "sorry", "pardon", "what", "which", "why", "how", "who",
    "when", "where", "don't", "dont", "not", "can", "could", "do", "does", "is",
}  # fmt: skip
# A list that has reached its last item, or an answer closed as it is.
_LIST_ENDS = {
    "and", "or", "plus", "also", "too", "both", "just", "only", "everything", "please", "thanks",
    "thank",
}  # fmt: skip
_LIST_CLOSERS = re.compile(r"\b(that's (it|all)|nothing else|all of them|that's everything)\b")
_NOT_CONTENT = GOES_ON | {
    "yes", "yeah", "yep", "sure", "okay", "ok", "please", "thanks", "thank", "you", "i'd",
    "i'm", "it", "we'd", "would", "like", "want", "be", "just", "spell", "called",
}  # fmt: skip
_NAME_CUES = {"name", "surname", "first", "last", "family", "full", "called", "this"}
_WEEKDAYS = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "mondays",
    "tuesdays", "wednesdays", "thursdays", "fridays", "saturdays", "sundays",
}  # fmt: skip
_DAY_WORDS = _WEEKDAYS | MONTHS | ORDINALS | {"today", "tomorrow", "weekend", "week", "next"}
_TIME_OF_DAY = {
    "morning", "afternoon", "evening", "noon", "midday", "lunchtime", "lunch", "night",
    "tonight", "o'clock", "am", "pm", "time", "anytime", "earliest", "latest", "early", "late",
    "half", "quarter",
}  # fmt: skip
# Words before a question's first real word ("And so, great, which day?", "Perfect, does
# Thursday work?").
_LEADS = {"and", "so", "great", "okay", "ok", "right", "perfect", "lovely", "sure", "thanks"}
# A phone number with at least this many digits may be whole (a local number).
PHONE_MIN_DIGITS = 7


@lru_cache(maxsize=256)
def asked_for(question: str, list_nouns: frozenset[str] = frozenset()) -> frozenset[str]:
    """What the agent's message asks for, from its questions (or its last sentence);
    `list_nouns`: the crew's plural nouns that ask for a list, beside the engine's."""
    nouns = LIST_NOUNS | list_nouns
    sentences = [s.strip() for s in _SENTENCE.findall(question) if s.strip()]
    if not sentences:
        return frozenset()
    # only the questions: "Which day suits you? I have times on Monday." asks for a day
    asking = [s for s in sentences if s.endswith("?")] or sentences[-1:]
    asks = set().union(*(_asks(words(s), nouns) for s in asking))
    if not asks - {"yes_no"} and len(sentences) > len(asking):
        # "Read me the cards, please. Which ones are they?": the question points back
        asks |= _asks(words(question), nouns) - {"yes_no"}
    if asks - {"yes_no"}:
        asks.discard("yes_no")  # "Shall I book it? What name should I put it under?"
    return frozenset(asks)


def _asks(ws: list[str], list_nouns: frozenset[str]) -> set[str]:
    if not ws:
        return set()
    text = " ".join(ws)
    lead = next((w for w in ws if w not in _LEADS), "")
    if lead in _AUX and not _REQUEST.match(text) and not any(w in _WH for w in ws[:2]):
        return {"yes_no"}  # "Does Thursday at three work?", "Shall I book it?"
    asks = {name for name, pat in _PATTERNS.items() if pat.search(text)}
    if "phone" in asks and _NOT_PHONE.search(text):
        asks.discard("phone")  # "your booking reference number", "the card number"
    if "email" in asks and not _PATTERNS["address"].search(_without_email(text)):
        asks.discard("address")  # "your email address" asks for an email only
    if "birth_date" in asks:
        asks.discard("day")  # "date of birth" is one thing
    if "spelling" in asks or "full_name" in asks:
        asks.add("name")
    if any(w in _WH for w in ws) and any(w in list_nouns for w in ws):
        asks.add("list")
    return asks


def _without_email(text: str) -> str:
    return re.sub(r"\be ?mail address\b", "", text)


def leaves_open(asked: frozenset[str], ws: list[str]) -> bool:
    """True when the answer `ws` (words so far) plainly covers only part of what was asked."""
    content = [w for w in ws if w not in _NOT_CONTENT]
    if not asked or not content or _went_elsewhere(ws):
        return False
    covered = {ask: _covers(ask, ws, content) for ask in asked - {"yes_no"}}
    if any(c == "part" for c in covered.values()):
        return True
    # "What day and time?" -> "Monday": one asked thing answered, another not yet (a time
    # alone is whole: "any time after four" is any day)
    missing = {ask for ask, c in covered.items() if c == "none"} - {"day"}
    return "all" in covered.values() and bool(missing)


def hedged(question: str, ws: list[str]) -> bool:
    """A "well"-prefaced answer to a wh-question, with something said after the "well" and
    nothing that closes it: likely to go on past its first complete clause."""
    if len(ws) < 2 or ws[0] != "well" or _went_elsewhere(ws):
        return False
    if any(w in {"please", "thanks", "thank"} for w in ws) or _LIST_CLOSERS.search(" ".join(ws)):
        return False
    return _wh_question(question)


def _wh_question(question: str) -> bool:
    """The agent's message asks a wh-question ("Who's the appointment for?", "Great, and which
    day suits you?", "Maple Street Salon, how can I help?"), not a yes/no question, a request
    ("Could I take your name?") or a statement: a clause of a question opens with a wh-word."""
    for s in _SENTENCE.findall(question):
        if not s.strip().endswith("?"):
            continue
        for clause in s.split(","):
            lead = next((w for w in words(clause) if w not in _LEADS), "")
            if lead in _WH:
                return True
    return False


def _went_elsewhere(ws: list[str]) -> bool:
    first = next((w for w in ws if w not in {"um", "uh", "er", "erm", "well", "oh"}), "")
    text = " ".join(ws)
    return first in _ELSEWHERE or "don't know" in text or "not sure" in text


def _covers(ask: str, ws: list[str], content: list[str]) -> str:
    """How much of one asked thing the answer gives: "none", "part" or "all"."""
    if ask == "list":
        closed = any(w in _LIST_ENDS for w in ws) or _LIST_CLOSERS.search(" ".join(ws))
        return "all" if closed else "part"
    if ask == "day":
        return "all" if any(w in _DAY_WORDS for w in ws) else "none"
    if ask == "time":
        return "all" if _has_time(ws) else "none"
    if ask == "spelling":
        return "all" if any(is_letter(w) for w in ws) else "none"
    if ask in ("name", "full_name"):
        names = [w for w in content if w not in _NAME_CUES and not is_letter(w)]
        if not names:
            return "none"
        return "part" if ask == "full_name" and len(names) < 2 else "all"
    if ask == "phone":
        n = digit_count(ws)
        return "none" if n == 0 else ("all" if n >= PHONE_MIN_DIGITS else "part")
    if ask == "email":
        return "all" if _has_domain(ws) else "part"
    if ask == "birth_date":
        if _has_year(ws):
            return "all"
        dated = any(w in MONTHS or w in ORDINALS or w in NUMBER_WORDS or w.isdigit() for w in ws)
        return "part" if dated else "none"
    if ask == "address":
        return "part"  # an address goes on (flat, town, postcode) as long as the caller likes
    return "none"


def _has_time(ws: list[str]) -> bool:
    if any(w in _TIME_OF_DAY for w in ws):
        return True
    for before, w in zip(["", *ws], ws, strict=False):
        number = w in DIGITS or w in NUMBER_WORDS or w.isdigit()
        if number and before in TIME_WORDS | {"at"}:
            return True
    return False


def _has_domain(ws: list[str]) -> bool:
    return any(a == "dot" and b in TLDS for a, b in pairwise(ws))


def _has_year(ws: list[str]) -> bool:
    if any(w.isdigit() and len(w) == 4 for w in ws):
        return True
    return any(
        a in ("nineteen", "twenty", "two") and (b in NUMBER_WORDS or b in DIGITS)
        for a, b in pairwise(ws)
    )

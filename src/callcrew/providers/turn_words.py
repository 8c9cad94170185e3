"""A turn detector that reads the words: "the caller is dictating and has not finished".

LiveKit's local audio end-of-turn model (v1-mini) hears prosody only; on the turn-taking corpus
(bench/turns) it scores a caller pausing inside a phone number about as high as one who has
finished (docs/benchmarks.md). A booking desk's callers pause mostly while dictating, and
what they have said so far shows it. Two kinds of evidence, both from the words alone:

- the last words are mid-item: a digit group short of a phone number, spelled letters, an email
  with no domain yet, a trailing "um", "and", "at", "is", "let me check...";
- the turn opened a dictation whose end the words cannot show: an address ("I live at",
  "unit", "postcode"), a lone surname or first name (the spelling usually follows), a date of
  birth without its year, an email being given ("send it to bookings at ...").

Either gives the session's endpointing P low (it waits `max_delay`, during which a caller who
goes on keeps the turn); everything else P high (commit after `min_delay`). So the long wait
is paid only when the transcript says the caller is mid-dictation, and ordinary lines stay fast.

It plugs into LiveKit's text turn-detector protocol (`predict_end_of_turn(chat_ctx)`), so it
runs on the transcript so far: deterministic, no model, no network, microseconds per turn.
Punctuation is ignored (an STT's full stop or comma after a pause says nothing reliable about
the next words). A list's first item ("a cut, ... a wash, ... and a blow dry") or a name
before its spelling is a finished answer in words; the agent's question (the last assistant
message in the chat context) tells them apart: after "Which services would you like?" one
item with no "and" is half an answer (providers/turn_question.py; docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from livekit.agents import llm

LIKELY = 0.9
UNLIKELY = 0.05
THRESHOLD = 0.5
# An open dictation's wait, from the VAD's end of speech: the corpus's pauses after a
# finished-looking piece of an address, name or date run to 1.2 s (docs/benchmarks.md).
HOLD_S = 1.2
# A "well"-prefaced answer's wait (turn_question.hedged): its pause is a speaker planning the
# rest (0.7 s on the corpus); shorter than a dictation's, since its words may be all there is.
HEDGE_HOLD_S = 0.8

DIGITS = {
    "zero": 1, "oh": 1, "o": 1, "one": 1, "two": 1, "three": 1, "four": 1, "five": 1,
    "six": 1, "seven": 1, "eight": 1, "nine": 1, "double": 1, "triple": 2,
}  # fmt: skip
# A phone number is complete at 10+ digits (with area code), an ambiguous count otherwise.
PHONE_DIGITS = 10
NUMBER_WORDS = {
    "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
    "ninety", "hundred", "thousand",
}  # fmt: skip
# Words after which a caller goes on (fillers, connectives, prepositions, "my number is", ...).
GOES_ON = {
    "um", "uh", "er", "erm", "hmm", "mm", "uhm", "well", "so", "actually", "like", "and", "or",
    "but", "at", "on", "in", "to", "of", "for", "with", "from", "the", "a", "an", "my", "our",
    "your", "is", "it's", "its", "that's", "that", "was", "are", "dot", "underscore", "dash",
    "hyphen", "plus", "code", "number", "spelled", "spelt", "name", "surname", "email",
    "address", "postcode", "reference", "ends", "wondering", "past",
}  # fmt: skip
# A turn of nothing but a greeting ("Hello!", "Hi there.", "Oh, good morning."): the caller
# says why they called next, after a sentence's pause (0.4-0.5 s in the local loop's voices).
GREETINGS = {"hello", "hi", "hey", "hiya", "morning", "afternoon", "evening"}
GREETING_FILL = {"good", "there", "oh", "um", "uh", "er", "and", "a", "very"}
AFFIRMATIONS = {"mm hmm", "mm hm", "mhm", "uh huh", "mm", "yeah", "yep", "okay", "ok", "right"}
TIME_WORDS = {"around", "about", "after", "before", "by", "till", "until", "past", "half"}
TLDS = {"com", "org", "net", "io", "edu", "gov", "uk", "co", "de", "fr", "ie", "ca", "au"}
MONTHS = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
}  # fmt: skip
ORDINALS = {
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
    "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
    "seventeenth", "eighteenth", "nineteenth", "twentieth", "thirtieth",
}  # fmt: skip
# "let me check", "hold on", "one moment": the caller is looking something up.
STALLS = re.compile(
    r"\b(let me (check|think|see|look|find)|hold on|hang on|one (sec|second|moment)|"
    r"just a (sec|second|moment))\b"
)
# An address goes on (flat, town, postcode) for as long as the caller likes.
ADDRESS = re.compile(
    r"\b(i live at|live at|address is|my address|home address|unit|flat|apartment|suite|"
    r"post ?code|zip ?code|zip)\b"
)
# A lone name after these is usually spelled next ("My surname is Whitfield, W H I T ...").
NAME_CUE = re.compile(r"\b(surname|last name|family name|first name|spelled|spelt|spell)\b")
EMAIL_CUE = re.compile(r"\b(email|e mail|send it to|send that to|send them to)\b")
DATE_CUE = re.compile(r"\b(date of birth|birthday|born on|born)\b")
STALL_TAIL = 3  # "let me check my calendar" holds; "... okay, Friday works" does not
_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("-", " "))


def is_letter(w: str) -> bool:
    return len(w) == 1 and w.isalpha() and w not in ("a", "i", "o")


def digit_count(ws: list[str]) -> int:
    """Digits said anywhere in the words ("double eight" is two)."""
    return sum(DIGITS.get(w, 0) + (len(w) if w.isdigit() else 0) for w in ws)


def _digit_run(ws: list[str]) -> int:
    run = 0
    for w in reversed(ws):
        if w in DIGITS:
            run += DIGITS[w]
        elif w.isdigit():
            run += len(w)
        else:
            break
    return run


def spelled_out(ws: list[str], known: frozenset[str] = frozenset()) -> bool:
    """The trailing letters spell a word said before them, or one of `known` (the agent's
    question: "How do you spell Okafor?"): "Nguyen, N G U Y E N" is a finished spelling."""
    n = 0
    while n < len(ws) and len(ws[-1 - n]) == 1 and ws[-1 - n].isalpha():
        n += 1
    spelt = "".join(ws[len(ws) - n :])
    return n >= 2 and (spelt in ws[: len(ws) - n] or spelt in known)


def _mid_item(ws: list[str], known: frozenset[str] = frozenset()) -> bool:
    """The last words stop inside an item: the caller has more to say whatever was asked."""
    last = ws[-1]
    if last in GOES_ON or (is_letter(last) and not spelled_out(ws, known)):
        return True
    text = " ".join(ws)
    stalls = list(STALLS.finditer(text))
    if stalls and len(text[stalls[-1].end() :].split()) <= STALL_TAIL:
        return True
    if EMAIL_CUE.search(text) and last not in TLDS:  # an email is finished by its domain
        return True
    if last in DIGITS or last.isdigit():
        run = _digit_run(ws)
        before = ws[-1 - run] if run < len(ws) else ""
        if run <= 2 and before in TIME_WORDS:  # "around three", "after four": a time
            return False
        return run < PHONE_DIGITS
    return last in NUMBER_WORDS  # "I live at twelve", "one hundred and twenty"


def _open_dictation(ws: list[str]) -> bool:
    """The turn opened a dictation the words cannot show the end of (address, lone surname,
    date of birth without a year, an email without its domain, a caller looking something up)."""
    text = " ".join(ws)
    if ADDRESS.search(text) or _email_on_its_way(ws):
        return True
    cue = NAME_CUE.search(text)
    if cue and _lone_name(text[cue.end() :].split()):
        return True
    if DATE_CUE.search(text):  # a date of birth is finished by its year
        month = next((i for i, w in enumerate(ws) if w in MONTHS), None)
        year = month is not None and (
            any(w.isdigit() and len(w) == 4 for w in ws[month:])
            or sum(w in NUMBER_WORDS or w in DIGITS for w in ws[month:]) >= 2
        )
        return not year
    # "the twenty third" with no month yet: a date on its way
    return ws[-1] in ORDINALS and not any(w in MONTHS for w in ws)


def _greeting_only(ws: list[str]) -> bool:
    return any(w in GREETINGS for w in ws) and all(w in GREETINGS | GREETING_FILL for w in ws)


def _email_on_its_way(ws: list[str]) -> bool:
    """ "j smith underscore forty two at example": an email (no cue said) on its way."""
    if ws[-1] in TLDS or "at" not in ws[1:]:
        return False
    at = len(ws) - 1 - ws[::-1].index("at")
    return "dot" in ws or "underscore" in ws or any(is_letter(w) for w in ws[:at])


def _lone_name(after: list[str]) -> bool:
    """One name word after the cue ("is Whitfield", "Siobhan"), not yet spelled."""
    rest = [w for w in after if w not in ("is", "it's", "its", "name", "my", "the")]
    return len(rest) == 1 and not is_letter(rest[0])


def verdict(text: str, asked: str | None = None, list_nouns: frozenset[str] = frozenset()) -> str:
    """The verdict: "mid" (the last words stop inside an item: wait `max_delay`), "open" (a
    dictation whose end the words cannot show: wait `HOLD_S`), "hedged" (a "well"-prefaced
    answer to a wh-question: wait `HEDGE_HOLD_S`) or "done" (commit after `min_delay`).
    `asked`, the agent's last message, can only turn "done" into "open" (the answer covers part
    of what it asked for) or "hedged" (providers/turn_question.py; `list_nouns`: the crew's
    words for a list question, `Crew.list_nouns`)."""
    ws = words(text)
    if not ws or " ".join(ws) in AFFIRMATIONS:  # "Mm-hmm." on its own is a yes, not a "hmm..."
        return "done"
    if _mid_item(ws, frozenset(words(asked)) if asked else frozenset()):
        return "mid"
    if _open_dictation(ws) or _greeting_only(ws):
        return "open"
    if asked:
        # imported here: turn_question reads the answer with this module's vocabulary
        from callcrew.providers.turn_question import asked_for, hedged, leaves_open

        if leaves_open(asked_for(asked, list_nouns), ws):
            return "open"
        if hedged(asked, ws):
            return "hedged"
    return "done"


def hold_for(v: str, hold_s: float | None) -> float | None:
    """Seconds a verdict holds the turn before "finished", from when the detector is asked:
    `hold_s` for an open dictation, at most `HEDGE_HOLD_S` for a hedged answer; None for a
    verdict without a hold ("done" commits, "mid" waits `max_delay`), or any with `hold_s` None."""
    if hold_s is None or v not in ("open", "hedged"):
        return None
    return hold_s if v == "open" else min(hold_s, HEDGE_HOLD_S)


def incomplete(
    text: str, asked: str | None = None, list_nouns: frozenset[str] = frozenset()
) -> bool:
    """True when the words so far look like a caller in the middle of dictating."""
    return verdict(text, asked, list_nouns) != "done"


def last_turn(chat_ctx: llm.ChatContext) -> tuple[str, str | None]:
    """The caller's words so far (the last user message) and the agent's last message before
    them (its question), None when the agent has not spoken."""
    text: str | None = None
    for item in reversed(chat_ctx.items):
        if item.type != "message":
            continue
        if text is None and item.role == "user":
            text = item.text_content or ""
        elif text is not None and item.role == "assistant":
            return text, item.text_content or None
    return text or "", None


class DictationTurnDetector:
    """LiveKit's text turn-detector protocol (voice/turn.py `_TurnDetector`).

    LiveKit's endpointing knows two waits (min and max delay); `hold_s` is a third, for an
    open dictation (a hedged answer waits at most `HEDGE_HOLD_S`): the prediction itself
    waits it, then answers "finished". The session cancels a pending prediction the moment
    the caller speaks again (VAD start of speech), so a caller who goes on within the hold
    keeps the turn. `hold_s` None: an open dictation
    waits `max_delay` like a mid-item pause. `list_nouns`: the crew's words that make the
    agent's question a list question (`Crew.list_nouns`), beside the engine's.
    """

    def __init__(
        self, hold_s: float | None = HOLD_S, list_nouns: frozenset[str] = frozenset()
    ) -> None:
        self.hold_s = hold_s
        self.list_nouns = list_nouns

    @property
    def model(self) -> str:
        return "callcrew-dictation"

    @property
    def provider(self) -> str:
        return "callcrew"

    async def unlikely_threshold(self, language: Any) -> float | None:
        return THRESHOLD

    async def supports_language(self, language: Any) -> bool:
        return language is None or str(language).lower().startswith("en")

    async def predict_end_of_turn(
        self, chat_ctx: llm.ChatContext, *, timeout: float | None = None
    ) -> float:
        text, asked = last_turn(chat_ctx)
        v = verdict(text, asked, self.list_nouns)
        hold = hold_for(v, self.hold_s)
        if hold is not None:
            await asyncio.sleep(hold)
            return LIKELY
        return LIKELY if v == "done" else UNLIKELY

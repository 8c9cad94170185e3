"""A turn detector that reads the words: "the caller is dictating and has not finished".

LiveKit's local audio end-of-turn model (v1-mini) hears prosody only; on the turn-taking corpus
(bench/turns) it scores a caller pausing inside a phone number about as high as one who has
finished (docs/benchmarks.md). A booking desk's callers pause mostly while dictating, and
what they have said so far shows it: a digit group short of a phone number, spelled letters,
an email with no domain yet, a trailing "um", "and", "at", "is". This detector gives the
session's endpointing those cases (P low: wait `max_delay`, during which a caller who goes on
keeps the turn) and everything else P high (commit after `min_delay`).

It plugs into LiveKit's text turn-detector protocol (`predict_end_of_turn(chat_ctx)`), so it
runs on the final transcript: deterministic, no model, no network, microseconds per turn.
Punctuation is ignored (an STT's full stop after a pause says nothing about the next words).
"""

from __future__ import annotations

import re
from typing import Any

from livekit.agents import llm

LIKELY = 0.9
UNLIKELY = 0.05
THRESHOLD = 0.5

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
# Words after which a phone caller goes on (fillers, connectives, "my number is", ...).
GOES_ON = {
    "um", "uh", "er", "erm", "hmm", "mm", "well", "so", "actually", "like", "and", "or", "but",
    "at", "on", "in", "to", "of", "for", "with", "from", "the", "a", "an", "my", "our", "your",
    "is", "it's", "its", "that's", "that", "was", "are", "dot", "underscore", "dash", "hyphen",
    "plus", "code", "number", "spelled", "spelt", "name", "surname", "email", "address",
    "postcode", "reference", "ends", "think", "wondering", "calendar", "see", "uhm",
}  # fmt: skip
TLDS = {"com", "org", "net", "io", "edu", "gov", "uk", "co", "de", "fr", "ie", "ca", "au"}
_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _letter(w: str) -> bool:
    return len(w) == 1 and w.isalpha() and w not in ("a", "i", "o")


def incomplete(text: str) -> bool:
    """True when the words so far look like a caller in the middle of dictating."""
    ws = words(text)
    if not ws:
        return False
    last = ws[-1]
    if last in GOES_ON or _letter(last):
        return True
    if "email" in ws or "e-mail" in text.lower():
        # an email is finished by its domain
        return last not in TLDS
    if last in DIGITS or last.isdigit():
        run = 0
        for w in reversed(ws):
            if w in DIGITS:
                run += DIGITS[w]
            elif w.isdigit():
                run += len(w)
            else:
                break
        return run < PHONE_DIGITS
    return last in NUMBER_WORDS  # "I live at twelve", "one hundred and twenty"


class DictationTurnDetector:
    """LiveKit's text turn-detector protocol (voice/turn.py `_TurnDetector`)."""

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
        text = ""
        for item in reversed(chat_ctx.items):
            if item.type == "message" and item.role == "user":
                text = item.text_content or ""
                break
        return UNLIKELY if incomplete(text) else LIKELY

"""Word error rate for audio rehearsals: normalising what was said and what the STT heard."""

from __future__ import annotations

import re

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORDINAL = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip
_ABBREV = {"mr": "mister", "mrs": "missus", "dr": "doctor", "ok": "okay", "st": "street"}


def number_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if not rest else " " + number_words(rest))
    if n < 10000 and n % 100 and 1100 <= n < 2100:
        return number_words(n // 100) + " " + number_words(n % 100)
    if n < 1_000_000:
        rest = n % 1000
        return (
            number_words(n // 1000) + " thousand" + ("" if not rest else " " + number_words(rest))
        )
    return " ".join(_ONES[int(d)] for d in str(n))


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL:
        last = _ORDINAL[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head} {last}".strip()


def normalize(text: str) -> list[str]:
    """Words for WER: lower case, no punctuation, digits and times as words, US spelling."""
    t = text.lower().replace("’", "'")
    t = re.sub(r"\b(\d{1,2}):(\d{2})\b", lambda m: f"{m[1]} {m[2]}" if m[2] != "00" else m[1], t)
    t = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: _ordinal(number_words(int(m[1]))), t)
    t = re.sub(r"\b\d+\b", lambda m: number_words(int(m[0])), t)
    t = re.sub(r"\b(a|p)\.?m\b\.?", r"\1m", t)
    t = re.sub(r"[-‐–—/]", " ", t)
    t = re.sub(r"[^a-z0-9' ]+", " ", t)
    words = []
    for w in t.split():
        w = w.strip("'")
        w = _ABBREV.get(w, w)
        w = re.sub(r"our$", "or", w) if w in ("colour", "colouring", "colours") else w
        w = w.replace("colour", "color")
        if w:
            words.extend(w.split())
    return words


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference length)."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1], len(ref)


def wer(reference: str, hypothesis: str) -> float:
    errors, n = word_errors(reference, hypothesis)
    return errors / n if n else float(bool(normalize(hypothesis)))

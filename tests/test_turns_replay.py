"""bench/turns/replay.py: the corpus's turn decisions without a clock. Behaviour, not timing:
which pauses each configuration would cut, from the words said so far."""

from __future__ import annotations

import pytest
from bench.turns.corpus import lines
from bench.turns.replay import CONFIGS, Config, replay, wait_s

pytestmark = pytest.mark.unit


def _by(label: str) -> Config:
    return next(c for c in CONFIGS if c.label.startswith(label))


def test_the_chosen_streaming_config_cuts_no_number_email_address_or_date() -> None:
    result = replay(_by("cloud-words (economy"), lines(real=False))
    cut = [c["said"] for c in result["cut"]]
    assert result["dictation_cut"] < replay(_by("defaults"), lines(real=False))["dictation_cut"]
    for c in result["cut"]:  # what is left is a finished answer in words
        assert c["as"] == "done", c
    assert not any(w in " ".join(cut).lower() for w in ("number", "email", "address", "birth"))


def test_waits_follow_the_verdict() -> None:
    cfg = _by("cloud-words (economy")
    assert wait_s(cfg, "Half past nine, please.") == (pytest.approx(0.35), "done")
    assert wait_s(cfg, "My number is five five five")[1] == "mid"
    assert wait_s(cfg, "My number is five five five")[0] == pytest.approx(2.1)
    assert wait_s(cfg, "My surname is Whitfield") == (pytest.approx(1.55), "open")
    # VAD turn detection never reads the words
    assert wait_s(_by("defaults"), "My number is five five five") == (pytest.approx(0.65), "vad")

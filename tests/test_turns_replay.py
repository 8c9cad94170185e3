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


def test_the_question_saves_the_finished_looking_pieces() -> None:
    corpus = lines(real=False)
    assert all(ln.asked for ln in corpus)  # every line carries the agent's question
    # the "well"-prefaced ending lines are there to price the hedge rule (next test)
    plain = [ln for ln in corpus if ln.tag != "well"]
    for label in ("cloud-words (economy", "words-0.45 (local)"):
        cfg = _by(label)
        before = replay(cfg, plain, question=False)
        after = replay(cfg, plain, question=True)
        assert after["dictation_cut"] < before["dictation_cut"]
        saved = {c["said"] for c in before["cut"]} - {c["said"] for c in after["cut"]}
        assert "I'd like a cut," in saved or label.startswith("words")
        assert "For me," in saved
        assert "Well, it's for my son," in saved  # hedged
        # ending lines: the same commits, none late
        assert after["ending_commit_max_s"] == before["ending_commit_max_s"]
        assert after["late_ending"] == before["late_ending"] == 0


def test_the_hedge_rule_costs_only_the_unclosed_well_answers_to_a_wh_question() -> None:
    well = [ln for ln in lines(real=False) if ln.tag == "well"]
    assert len(well) >= 4
    cfg = _by("cloud-words (economy")
    held = {ln.text: wait_s(cfg, ln.text, ln.asked) for ln in well}
    slow = {said for said, (w, v) in held.items() if v == "hedged"}
    assert slow == {"Well, Thursday would be best.", "Well, it's Marcus Bell."}
    for said, (w, _) in held.items():  # the price: the hedge hold, never "late"
        assert w == pytest.approx(0.35 + 0.8 if said in slow else 0.35)


def test_waits_read_the_question() -> None:
    cfg = _by("cloud-words (economy")
    asked = "Which services would you like?"
    assert wait_s(cfg, "I'd like a cut", asked) == (pytest.approx(1.55), "open")
    assert wait_s(cfg, "Just a cut, please.", asked) == (pytest.approx(0.35), "done")
    assert wait_s(cfg, "I'd like a cut") == (pytest.approx(0.35), "done")


def test_the_corpus_loads_typed_and_needs_the_question() -> None:
    from bench.turns.corpus import Entry, entries, spec

    raw = spec()
    typed = entries(raw) + entries(raw, "real")
    assert len(typed) == len(raw["lines"]) + len(raw.get("real") or [])
    assert all(isinstance(e, Entry) and e.asked for e in typed)
    assert {e.kind for e in typed} == {"ending", "dictation"}
    with pytest.raises(ValueError, match="asked"):
        Entry.parse({"tag": "x", "kind": "ending", "say": ["Yes."]})
    with pytest.raises(ValueError, match="kind"):
        Entry.parse({"kind": "other", "say": ["Yes."], "asked": "Ok?"})

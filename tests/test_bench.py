"""Smoke test of the benchmark harness: every suite runs in --quick mode (tiny N) and writes
JSON of the expected shape with finite, non-negative numbers. Never asserts on timing."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.bench,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="the caller's voice: espeak-ng"),
]

# Values that may legitimately be negative: differences between two measurements, and the turn
# gap / pipeline time, which subtract fixed provider latencies from a wall-clock wait.
SIGNED = ("minus", "diff", "turn_gap", "pipeline", "saving", "lag", "commit_after", "growth")


def numbers(obj: Any, path: str = "") -> list[tuple[str, float]]:
    if isinstance(obj, bool):
        return []
    if isinstance(obj, int | float):
        return [(path, float(obj))]
    if isinstance(obj, dict):
        return [n for k, v in obj.items() for n in numbers(v, f"{path}.{k}")]
    if isinstance(obj, list):
        return [n for i, v in enumerate(obj) for n in numbers(v, f"{path}[{i}]")]
    return []


def run_suite(name: str, out: Path) -> dict[str, Any]:
    from bench.__main__ import main

    assert main([name, "--quick", "--out", str(out)]) == 0
    files = sorted(out.glob(f"{name}-*.json"))
    assert len(files) == 1, files
    data = json.loads(files[0].read_text())
    assert data["suite"] == name
    assert {"date", "nproc", "cpu", "python"} <= set(data["machine"])
    for where, value in numbers(data):
        assert math.isfinite(value), where
        if not any(s in where for s in SIGNED):
            assert value >= 0, f"{where} = {value}"
    return data


def test_engine(tmp_path: Path) -> None:
    data = run_suite("engine", tmp_path)
    for entry in data["defaults_vs_tuned"].values():
        assert entry["metrics"]["total_wait_s"]["n"] >= 1
        assert entry["metrics"]["lk_e2e_latency"]["n"] >= 1
    cost = data["pipeline_cost"]
    assert set(cost["crew_minus_bare"]) == {"pipeline_s", "turn_gap_s"}
    assert cost["report_build_s"]["n"] == 1


def test_greeting(tmp_path: Path) -> None:
    data = run_suite("greeting", tmp_path)
    cached = data["phrase cache (warmed)"]
    assert cached["first_frame_s"]["n"] == data["n"] and cached["tts_requests"] == 0
    assert data["no cache: TTS, Z = 150 ms"]["cache_hits"] == 0


def test_context(tmp_path: Path) -> None:
    data = run_suite("context", tmp_path)
    assert len(data["trimmed"]) == len(data["all_kept"]) == data["turns"]
    assert all(t["input"] > 0 for t in data["trimmed"])


def test_concurrency(tmp_path: Path) -> None:
    data = run_suite("concurrency", tmp_path)
    assert [lv["n"] for lv in data["levels"]] == [1]
    assert len(data["multi_process"]["per_process"]) == 2
    assert data["fresh_process_rss_mb"] > 0
    assert all(lv["cpu_s_per_call_minute"] is not None for lv in data["levels"])


def test_cost(tmp_path: Path) -> None:
    data = run_suite("cost", tmp_path)
    assert data["scenarios"] and all(
        {"economy", "premium", "economy_cached", "premium_cached"} <= set(s["cost"])
        for s in data["scenarios"]
    )
    assert data["seed_profile"]["seed_per_call"] == pytest.approx(0.0929, abs=1e-4)
    # the levers of issue 20, stacked from STT as streamed to the shipped configuration
    levers = data["levers"]
    steps = [row["total"] for row in levers["stacked"]]
    assert steps == sorted(steps, reverse=True)  # each lever lowers the bill
    assert levers["stt"]["streamed"] == pytest.approx(2 * levers["stt"]["speech_rule"])
    assert 0 <= levers["tts"]["phrase_cache_hit_rate_chars"] <= 1


def test_turntaking(tmp_path: Path) -> None:
    data = run_suite("turntaking", tmp_path)
    assert set(data["results"]) == {"defaults", "eot"}
    assert data["corpus"]["ending"] == data["corpus"]["dictation"] == 1
    assert data["question"] is True  # each line's session saw its asked: question
    assert len(data["corpus"]["voices"]) == 2  # the two quick lines are in different voices
    for name, entry in data["results"].items():
        assert entry["config"]["turn_detection"] == ("eot" if name == "eot" else "vad")
        cut = entry["cutoffs"]
        assert cut["dictation_lines"] == cut["ending_lines"] == 1
        # every line is accounted for: answered after its end, cut off, or unanswered
        answered = entry["answered"]
        cut_total = cut["dictation_premature"] + cut["ending_premature"]
        assert answered + cut_total + entry["unanswered"] == entry["lines"] == 2
        assert entry["cpu_s_per_turn"] > 0 and entry["cpu_s_per_session_minute"] > 0
        # every answer took at least its own LLM request (preemptive ones come on top)
        rows = [r for c in entry["calls"] for r in c["lines"]]
        assert all(r["llm_requests"] >= 1 for r in rows if "total_wait_s" in r)
        assert set(entry["llm_requests_per_line"]) == {"ending", "dictation"}


def test_turntaking_interrupts(tmp_path: Path) -> None:
    data = run_suite("turntaking_interrupts", tmp_path)
    entry = data["results"]["cloud-guard"]
    assert entry["config"]["backchannel_guard"] is True and entry["config"]["stt"] == "streaming"
    assert entry["barge_in"] + entry["backchannels"] == 2 and not entry["errors"]
    for r in entry["rows"]:
        assert r["kind"] in ("barge_in", "backchannel") and r["agent_talked_on_s"] >= 0
        if r["kind"] == "backchannel":
            assert "leaked_into_next" in r and "next_turn" in r


def test_turn_corpus_spec() -> None:
    """The shipped corpus: >= 60 lines, dictation pauses of 0.3-1.5 s, >= 2 voices."""
    from bench.turns.corpus import lines, spec, split

    raw = spec()
    assert len(raw["lines"]) >= 60 and len(raw["voices"]) >= 2
    pauses = [p for item in raw["lines"] for p in split(item["say"])[1]]
    assert min(pauses) >= 0.3 and max(pauses) <= 1.5
    every = lines(every_voice=True, real=False)
    assert len(every) == len(raw["lines"]) * len(raw["voices"])
    assert {ln.kind for ln in every} == {"plain", "pause"}
    assert all(ln.pauses for ln in every if ln.kind == "pause")
    with pytest.raises(ValueError):
        split(["a pause must follow speech", 0.5])
    from bench.turns.corpus import real_speech_available, real_words

    if real_speech_available():  # the STT fakes "hear" what the package says was recorded
        assert real_words("cards/001.wav") == "ten of clubs"
        real = [ln for ln in lines() if ln.voice == "real"]
        assert real and all(ln.said and len(ln.said) == len(ln.pieces) for ln in real)


def test_outbox(tmp_path: Path) -> None:
    data = run_suite("outbox", tmp_path)
    up, flaky = data["runs"]
    assert up["exit_codes"] == [0, 0, 0, 0] and flaky["exit_codes"] == [0, 0, 0, 0]
    assert up["delivered"] == up["reports"] and flaky["delivered"] == flaky["reports"]


def test_soak(tmp_path: Path) -> None:
    data = run_suite("soak", tmp_path)
    kinds = [s["kind"] for s in data["samples"]]
    assert kinds.count("text") == 6 and kinds.count("audio") == 1
    assert all(s["rss_mb"] > 0 and s["fds"] > 0 for s in data["samples"])


def test_whisper_decode(tmp_path: Path) -> None:
    """`python -m bench.whisper_decode` on two lines of each kind (the real Whisper tiny.en)."""
    pytest.importorskip("faster_whisper")
    from bench.whisper_decode import main

    main(["--limit", "2", "--pads", "10", "--out", str(tmp_path)])
    (path,) = tmp_path.glob("whisper_decode-*.json")
    data = json.loads(path.read_text())
    assert set(data["whole_lines"]) == {"full 30 s window", "fitted, 10 s pad"}
    assert set(data["dictation_lines"]) == {"whole line", "pieces alone", "pieces in turn context"}
    assert data["whole_lines"]["full 30 s window"]["n"] == 4
    assert data["dictation_lines"]["pieces alone"]["n"] == 2
    for where, value in numbers(data):
        assert math.isfinite(value) and value >= 0, where

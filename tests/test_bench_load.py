"""The load bench's own logic (bench/load.py, bench/load_cluster.py) without a server: how it
counts calls, where it refuses to run, and the booking script of its LLM stub."""

from __future__ import annotations

import pytest
from bench import load
from bench.load_caller import CallResult
from bench.load_cluster import BookingLLM

pytestmark = pytest.mark.unit


def test_outside_the_isolated_namespace_it_refuses_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CALLCREW_DEVSTACK_ISOLATED", raising=False)
    assert load.main(load.parser().parse_args(["--quick"])) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "scripts/devstack isolated" in err


def test_summary_counts_held_dropped_and_never_dispatched() -> None:
    held = CallResult("a", started=0.0, dispatched=True, dispatch_s=1.0, ended=30.0)
    held.waits = [(5.0, 1.0), (12.0, 1.2)]
    slow = CallResult("b", started=2.0, dispatched=True, dispatch_s=2.0, ended=31.0)
    slow.waits, slow.unanswered = [(14.0, 1.4)], 1
    dropped = CallResult("c", started=3.0, dispatched=True, dropped="agent left", ended=20.0)
    never = CallResult("d", started=4.0, ended=34.0)
    s = load.summarise(4, [held, slow, dropped, never], {})
    assert (s["held"], s["dropped"], s["never_dispatched"], s["unanswered"]) == (1, 1, 1, 1)
    assert s["turns"] == 3 and s["wait_p50"] == pytest.approx(1.2)
    # turns whose line ended while all four calls were up (from t=4 to t=20)
    assert s["full_turns"] == 3 and s["full_p95"] == pytest.approx(1.38)
    assert s["drop_reasons"] == ["agent left"]


def test_the_booking_stub_hands_off_then_books_the_one_slot_then_talks() -> None:
    stub = BookingLLM(0.0, "2030-01-07T10:00")

    def tools(*names: str) -> list[dict[str, object]]:
        return [{"type": "function", "function": {"name": n}} for n in names]

    text, calls = stub.script({"tools": tools("hand_off_to_desk"), "messages": []})
    assert [c[0] for c in calls] == ["hand_off_to_desk"] and text == ""
    body = {"tools": tools("book_appointment", "find_free_slots"), "messages": []}
    _, calls = stub.script(body)
    assert calls == [("book_appointment", {"service": "haircut", "slot_id": "2030-01-07T10:00"})]
    booked = [{"role": "assistant", "tool_calls": [{"function": {"name": "book_appointment"}}]}]
    text, calls = stub.script({**body, "messages": booked})
    assert calls == [] and text

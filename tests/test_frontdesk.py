"""frontdesk's file shape on our scenarios (label, userdata, no turns) and `--tag`; the desk's
reading of `available_slots` is tests/test_rehearsal_store.py."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from callcrew.call import Channel
from callcrew.simulate.frontdesk import select_tags
from callcrew.simulate.scenario import ScenarioError, load_scenarios

pytestmark = pytest.mark.unit

FRONTDESK = """\
    name: A desk
    scenarios:
      - label: Opens with a date
        instructions: You are Ken Watanabe. Ask for July 16.
        agent_expectations: Books July 16 at 1 pm.
        tags: {feature: booking}
        userdata:
          available_slots: ["2026-07-16T13:00:00"]
          expected_booking: "2026-07-16T13:00:00"
      - label: Nothing free
        instructions: You are Lena Fischer.
        tags: {feature: adversarial}
        userdata:
          now: "2026-06-13T10:00:00"
          available_slots: []
          expected_booking: null
    """


def test_a_frontdesk_file_reads_as_is(tmp_path: Path) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text(textwrap.dedent(FRONTDESK))
    first, second = load_scenarios(path)
    assert first.name == "Opens with a date" and first.turns == []
    assert first.channel is Channel.WEB and first.caller is None
    # The desk's reading of frontdesk's userdata: its seed data and its expectation.
    assert first.data.available_slots == [datetime(2026, 7, 16, 13, 0)]
    assert first.expect.booked_on_call == [datetime(2026, 7, 16, 13, 0)]
    assert second.data.available_slots == [] and second.expect.booked_on_call == []
    assert second.now == datetime(2026, 6, 13, 10, 0)
    assert [s.name for s in select_tags([first, second], ["adversarial"])] == ["Nothing free"]
    assert [s.name for s in select_tags([first, second], ["feature=booking"])] == [first.name]
    assert select_tags([first, second], ["feature=other"]) == []
    assert len(select_tags([first, second], [])) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("label: x\n", "needs 'turns' (scripted caller lines) or 'instructions'"),
        ("label: x\ninstructions: hi\njudges: [kindness]\n", "unknown judge(s) kindness"),
    ],
)
def test_what_a_scenario_cannot_be(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_scenarios(path)

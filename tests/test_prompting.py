from __future__ import annotations

from typing import Any

import pytest
from agents.prompting import PromptError, instructions, static_prompt

from callcrew.call import Channel

pytestmark = pytest.mark.unit


async def test_static_part_is_identical_across_calls_and_comes_first(make_call: Any) -> None:
    a, _ = await make_call(caller="+15550000001")
    b, _ = await make_call(channel=Channel.WEB, caller=None)
    b.reason = "cancel"
    first, second = instructions("appointments", a), instructions("appointments", b)
    static = static_prompt("appointments", a.profile)
    assert first.startswith(static) and second.startswith(static)
    assert first != second  # the per-call part differs, after the cacheable prefix
    assert "Maple Street Salon" in static and "haircut: Haircut, 30 minutes, $35" in static
    assert "+15550000001" in first and "+15550000001" not in static


def test_unknown_placeholder_is_reported(tmp_path: Any, profile: Any) -> None:
    (tmp_path / "bad.md").write_text("Hello {business_name}, {oops}")
    with pytest.raises(PromptError, match=r"unknown placeholder.*oops"):
        static_prompt("bad", profile, tmp_path)
    with pytest.raises(PromptError, match="not found"):
        static_prompt("missing", profile, tmp_path)

"""LiveKit frontdesk's `tags` on our scenarios: `simulate --tag booking` or `--tag feature=booking`.

The rest of frontdesk's conventions belong to the crew that reads them (the desk maps
`userdata.available_slots` and `expected_booking`; see its `Rehearsal.frontdesk`).
"""

from __future__ import annotations

from typing import Any


def _tag_matches(tags: dict[str, Any], wanted: str) -> bool:
    if "=" in wanted:
        key, value = wanted.split("=", 1)
        return str(tags.get(key.strip())) == value.strip()
    return wanted in tags or wanted in {str(v) for v in tags.values()}


def select_tags(scenarios: list[Any], wanted: list[str]) -> list[Any]:
    """Scenarios whose `tags` match any of `wanted` ("booking" or "feature=booking")."""
    if not wanted:
        return scenarios
    return [s for s in scenarios if any(_tag_matches(s.tags, w) for w in wanted)]

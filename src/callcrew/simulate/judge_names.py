"""The judges a scenario may name (`judges:`), kept apart from simulate/judges.py so reading a
scenario file does not load the judge machinery."""

from __future__ import annotations

# "expectations" grades the scenario's own `agent_expectations`; it joins the default set
# whenever a scenario has them.
JUDGE_NAMES = (
    "expectations",
    "task_completion",
    "no_invented_slots",
    "accuracy",
    "tool_use",
    "handoff",
    "transfer",
    "politeness",
    "safety",
    "conciseness",
)
DEFAULT_JUDGES = ("task_completion", "no_invented_slots", "handoff", "politeness")

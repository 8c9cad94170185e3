"""The judges a scenario may name (`judges:`), kept apart from simulate/judges.py so reading a
scenario file does not load the judge machinery."""

from __future__ import annotations

# "expectations" grades the scenario's own `agent_expectations`; it joins the default set
# whenever a scenario has them.
JUDGE_NAMES = (
    "expectations",
    "task_completion",
    "accuracy",
    "tool_use",
    "handoff",
    "transfer",
    "politeness",
    "safety",
    "conciseness",
)
# A crew adds its own judges (`Rehearsal.judges`) and may name its default set.
DEFAULT_JUDGES = ("task_completion", "handoff", "politeness")

"""Which agent comes next. Kept apart so agents can hand off to each other without import cycles,
and so the task stage is chosen by the business profile (or the TASK_AGENT setting)."""

from __future__ import annotations

from collections.abc import Callable

from livekit.agents import llm

from agents.base import CrewAgent
from agents.calldata import CallData

TaskFactory = Callable[..., CrewAgent]


def task_agents() -> dict[str, type[CrewAgent]]:
    # A new task agent is a module in agents/ plus a prompt, registered here.
    from agents.appointments import AppointmentsAgent
    from agents.survey import SurveyAgent

    return {"appointments": AppointmentsAgent, "survey": SurveyAgent}


def task_agent(state: CallData, *, chat_ctx: llm.ChatContext | None = None) -> CrewAgent:
    return task_agents()[state.task](state, chat_ctx=chat_ctx)


def wrapup_agent(state: CallData, *, chat_ctx: llm.ChatContext | None = None) -> CrewAgent:
    from agents.wrapup import WrapUpAgent

    return WrapUpAgent(state, chat_ctx=chat_ctx)

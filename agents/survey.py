"""A second, tiny task agent: a three-question satisfaction survey.

It exists to prove the task stage is pluggable: this module, prompts/survey.md and one line in
agents/stages.py, and `task: survey` in the business profile (or TASK_AGENT=survey).
"""

from __future__ import annotations

from typing import Any

from livekit.agents import Agent, RunContext, ToolError, function_tool

from agents import stages
from agents.base import CrewAgent
from agents.calldata import CallData
from agents.outcomes import DeskOutcome

QUESTIONS: dict[str, str] = {
    "rating": "On a scale of 1 to 5, how happy were you with your last visit?",
    "recommend": "Would you recommend us to a friend?",
    "improve": "What is one thing we could do better?",
}


class SurveyAgent(CrewAgent):
    stage = "survey"
    prompt = "survey"
    job = "asking the survey questions"

    def prompt_values(self) -> dict[str, Any]:
        lines = [f"{i}. ({key}) {q}" for i, (key, q) in enumerate(QUESTIONS.items(), 1)]
        return {"questions_text": "\n".join(lines)}

    async def on_enter(self) -> None:
        await super().on_enter()
        self.session.generate_reply()

    @function_tool
    async def record_answer(self, ctx: RunContext[CallData], question: str, answer: str) -> str:
        """Record the caller's answer to one survey question.

        Args:
            question: The question key: rating, recommend or improve.
            answer: The caller's answer, briefly, in their words.
        """
        key = question.strip().lower()
        if key not in QUESTIONS:
            raise ToolError(
                f"There is no question {question!r}; use one of {', '.join(QUESTIONS)}."
            )
        text = " ".join(answer.split())
        if not text:
            raise ToolError("The answer is empty; ask the question again.")
        if key == "rating" and text not in {"1", "2", "3", "4", "5"}:
            raise ToolError("The rating must be a number from 1 to 5; ask for just the number.")
        answers = ctx.userdata.survey_answers
        answers[key] = text
        remaining = [k for k in QUESTIONS if k not in answers]
        if not remaining:
            ctx.userdata.set_outcome(DeskOutcome.SURVEY_DONE)
            if "survey answered" not in ctx.userdata.changes:
                ctx.userdata.record_change("survey answered")
            return "All questions answered. Thank the caller and call wrap_up."
        return f"Recorded. Next question: {QUESTIONS[remaining[0]]}"

    @function_tool
    async def wrap_up(self, ctx: RunContext[CallData]) -> Agent:
        """The survey is over (or the caller wants to stop): move to the closing of the call."""
        return stages.wrapup_agent(ctx.userdata, chat_ctx=self.carried_context())

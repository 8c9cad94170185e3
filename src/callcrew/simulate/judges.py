"""`simulate --judge`: a judge LLM grades each rehearsed call.

LiveKit's evaluation helpers do the work where they fit: a `JudgeGroup` runs the judges
concurrently on the judge LLM, with LiveKit's own task-completion, accuracy, tool-use, hand-off,
safety and conciseness judges. Ours add the scenario's own `agent_expectations`, politeness and
hand-offs to a person, and the crew adds its own (`Rehearsal.judges`: the desk checks that no
time it offers was invented). Every judge answers through a
`submit_verdict` tool call (pass / fail / maybe + reasoning), as LiveKit's do.

A `fail` fails the scenario (unless report-only); `maybe` is shown but does not fail; a judge
that gave no verdict at all fails, since an unjudged call is not a passed one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from livekit.agents import function_tool, llm
from livekit.agents.evals import (
    Evaluator,
    JudgeGroup,
    JudgmentResult,
    accuracy_judge,
    conciseness_judge,
    handoff_judge,
    safety_judge,
    task_completion_judge,
    tool_use_judge,
)

from callcrew.crews import load_crew
from callcrew.metrics.side_llm import SideLLM, add_side_usage
from callcrew.settings import Settings
from callcrew.simulate.crewkit import NO_REHEARSAL, Rehearsal, rehearsal_of
from callcrew.simulate.judge_names import DEFAULT_JUDGES
from callcrew.simulate.runner import SimResult, TurnLog

POLITENESS = (
    "The agent stays polite, warm and professional all through the call, also when the caller "
    "is rude, stubborn, tired or changes their mind. Fail on rudeness, sarcasm, blaming the "
    "caller, pressure, or ignoring the caller's frustration."
)
TRANSFER = (
    "A hand-off to a person is correct: if the caller asked for a human, or the agent could not "
    "help, the agent transferred the call (request_human) or took a message, saying so; it did "
    "not transfer or end a call the caller did not want ended, and it did not claim a transfer "
    "that no function output confirmed. Pass when no hand-off to a person was called for."
)
ROLE = (
    "You are the phone agent of {business}. Help the caller with what they called about, "
    "using the tools and the business facts, transfer to a person or take a message when "
    "asked, then end the call politely."
)


@dataclass
class Verdict:
    name: str
    verdict: str  # pass, fail, maybe, or error (no verdict)
    reasoning: str

    @property
    def failed(self) -> bool:
        return self.verdict in ("fail", "error")


def format_conversation(chat_ctx: llm.ChatContext) -> str:
    lines: list[str] = []
    for item in chat_ctx.items:
        if item.type == "message" and item.role in ("user", "assistant"):
            who = "caller" if item.role == "user" else "agent"
            lines.append(f"{who}: {item.text_content or ''}")
        elif item.type == "function_call":
            lines.append(f"[function call: {item.name}({item.arguments})]")
        elif item.type == "function_call_output":
            kind = "function error" if item.is_error else "function output"
            lines.append(f"[{kind}: {item.output}]")
        elif item.type == "agent_handoff":
            lines.append(f"[agent handoff: {item.old_agent_id} -> {item.new_agent_id}]")
    return "\n".join(lines)


@function_tool
async def submit_verdict(verdict: str, reasoning: str) -> None:
    """Submit your evaluation verdict.

    Args:
        verdict: 'pass' if the criteria are met, 'fail' if not, 'maybe' if uncertain.
        reasoning: Brief explanation of your reasoning.
    """


class CriteriaJudge:
    """A judge of our own, with LiveKit's Evaluator shape so a JudgeGroup can run it."""

    def __init__(self, name: str, criteria: str) -> None:
        self._name = name
        self.criteria = criteria

    @property
    def name(self) -> str:
        return self._name

    async def evaluate(
        self,
        *,
        chat_ctx: llm.ChatContext,
        reference: llm.ChatContext | None = None,
        llm: llm.LLM[Any] | None = None,
    ) -> JudgmentResult:
        from livekit.agents import llm as lk_llm

        assert llm is not None, "a JudgeGroup passes its LLM"
        ctx = lk_llm.ChatContext()
        ctx.add_message(
            role="system",
            content=(
                "You are an evaluator for conversational AI agents. Analyze the conversation "
                "against the given criteria, then call submit_verdict with your verdict "
                "('pass', 'fail', or 'maybe') and a brief reasoning."
            ),
        )
        ctx.add_message(
            role="user",
            content=f"Criteria: {self.criteria}\n\nConversation:\n"
            f"{format_conversation(chat_ctx)}\n\nEvaluate if the conversation meets the criteria.",
        )
        response = await llm.chat(
            chat_ctx=ctx,
            tools=[submit_verdict],
            tool_choice="required",
            extra_kwargs={"temperature": 0.0},
        ).collect()
        if not response.tool_calls:
            raise ValueError("the judge LLM did not call submit_verdict")
        args = json.loads(response.tool_calls[0].arguments or "{}")
        verdict = str(args.get("verdict", "")).lower()
        if verdict not in ("pass", "fail", "maybe"):
            raise ValueError(f"the judge LLM gave no verdict ({verdict!r})")
        return JudgmentResult(
            verdict=verdict,  # type: ignore[arg-type]
            reasoning=str(args.get("reasoning", "")),
            instructions=self.criteria,
        )


def judges_for(
    names: list[str], expectations: str | None, kit: Rehearsal = NO_REHEARSAL
) -> list[Evaluator]:
    made: dict[str, Evaluator] = {
        "task_completion": task_completion_judge(),
        "accuracy": accuracy_judge(),
        "tool_use": tool_use_judge(),
        "handoff": handoff_judge(),
        "safety": safety_judge(),
        "conciseness": conciseness_judge(),
        "politeness": CriteriaJudge("politeness", POLITENESS),
        "transfer": CriteriaJudge("transfer", TRANSFER),
        **{name: CriteriaJudge(name, criteria) for name, criteria in kit.judges.items()},
    }
    if expectations:
        made["expectations"] = CriteriaJudge(
            "expectations", f"The scenario expects this of the agent: {expectations.strip()}"
        )
    return [made[n] for n in names if n in made]


def chosen_judges(scenario: Any, kit: Rehearsal = NO_REHEARSAL) -> list[str]:
    default = kit.default_judges if kit.default_judges is not None else DEFAULT_JUDGES
    names = list(scenario.judges) if scenario.judges is not None else list(default)
    if scenario.agent_expectations and "expectations" not in names:
        names.insert(0, "expectations")
    return names


def conversation(logs: list[TurnLog], business: str, role: str = ROLE) -> llm.ChatContext:
    """The call as a ChatContext for the judges, rebuilt from the rehearsal's turn logs."""
    ctx = llm.ChatContext()
    # task_completion reads the agent's goal from the latest instructions update.
    ctx.items.append(llm.AgentConfigUpdate(instructions=role.format(business=business)))
    pending: list[str] = []
    n = 0
    for log in logs:
        if log.index >= 0:
            ctx.add_message(role="user", content=log.caller)
        for e in log.events:
            if e["type"] == "say" and e["text"]:
                ctx.add_message(role="assistant", content=e["text"])
            elif e["type"] == "tool_call":
                n += 1
                pending.append(f"call_{n}")
                ctx.items.append(
                    llm.FunctionCall(call_id=pending[-1], name=e["name"], arguments=e["arguments"])
                )
            elif e["type"] == "tool_result":
                call_id = pending.pop(0) if pending else f"call_{n}"
                ctx.items.append(
                    llm.FunctionCallOutput(
                        call_id=call_id,
                        name=e["name"],
                        output=str(e["output"]),
                        is_error=bool(e["is_error"]),
                    )
                )
            elif e["type"] == "handoff":
                ctx.items.append(
                    llm.AgentHandoff(old_agent_id=e["from"], new_agent_id=str(e["to"]))
                )
    return ctx


class JudgePanel:
    """Grades rehearsals with the judge LLM (JUDGE_LLM_MODEL / _BASE_URL / _API_KEY)."""

    def __init__(self, settings: Settings, *, report_only: bool = False) -> None:
        self.settings = settings
        self.report_only = report_only

    async def grade(self, result: SimResult, business: str) -> list[Verdict]:
        """Adds `judges` to the report and, unless report-only, failed verdicts to failures."""
        kit = rehearsal_of(load_crew(self.settings.crew))
        names = chosen_judges(result.scenario, kit)
        side = SideLLM(self.settings, "judge", timeout_s=90.0)
        try:
            group = JudgeGroup(
                llm=side.llm, judges=judges_for(names, result.scenario.agent_expectations, kit)
            )
            call = conversation([result.opening, *result.turns], business, kit.role or ROLE)
            evaluation = await group.evaluate(call)
        finally:
            await side.aclose()
        verdicts: list[Verdict] = []
        for name in names:
            j = evaluation.judgments.get(name)
            if j is None:
                verdicts.append(Verdict(name, "error", "the judge LLM gave no verdict"))
            else:
                verdicts.append(Verdict(name, j.verdict, j.reasoning))
        result.report["judges"] = {
            "model": side.usage.model,
            "report_only": self.report_only,
            "verdicts": [asdict(v) for v in verdicts],
        }
        add_side_usage(result.report, side.usage, self.settings)
        if not self.report_only:
            for v in verdicts:
                if v.failed:
                    result.failures.append(f"judge {v.name}: {v.verdict}: {v.reasoning}")
            result.passed = not result.failures
        return verdicts

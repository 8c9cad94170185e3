"""The crew's hand-offs and tools, driven through a real AgentSession with the replay LLM."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents.appointments import AppointmentsAgent
from agents.intro import IntroAgent
from agents.stages import task_agents
from agents.survey import SurveyAgent
from agents.wrapup import WrapUpAgent
from livekit.agents import AgentSession

from callcrew.call import Channel, Outcome
from callcrew.simulate.replay import ReplayLLM, ReplayScript
from callcrew.simulate.scenario import AgentStep

pytestmark = pytest.mark.unit


def steps(*items: dict[str, Any]) -> list[AgentStep]:
    return [AgentStep.model_validate(i) for i in items]


async def start(make_call: Any, turns: dict[int, list[AgentStep]], **kw: Any) -> Any:
    state, control = await make_call(**kw)
    script = ReplayScript(turns=turns)
    session: AgentSession[Any] = AgentSession(llm=ReplayLLM(script), userdata=state)
    return state, control, script, session


async def test_intro_greets_with_fixed_phrase_then_hands_off_with_context(make_call: Any) -> None:
    state, _, script, session = await start(
        make_call,
        {
            0: steps(
                {
                    "tool": "hand_off_to_desk",
                    "args": {"caller_name": "Dana Whitfield", "reason": "a haircut on Tuesday"},
                },
                {"say": "Sure Dana, let me look at Tuesday."},
            )
        },
    )
    async with session:
        await session.start(IntroAgent(state))
        script.begin_turn(0)
        result = await session.run(user_input="Hi, I'm Dana Whitfield, a haircut on Tuesday please")
        result.expect.next_event().is_function_call(
            name="hand_off_to_desk",
            arguments={"caller_name": "Dana Whitfield", "reason": "a haircut on Tuesday"},
        )
        result.expect.next_event().is_function_call_output()
        result.expect.next_event().is_agent_handoff(new_agent_type=AppointmentsAgent)
        result.expect.next_event().is_message(role="assistant")
        result.expect.no_more_events()
        # The desk's model saw what the caller told the receptionist: nobody asks again.
        desk_request = script.calls[-1]
        assert "hand_off_to_desk" not in desk_request.tools_offered
        assert "book_appointment" in desk_request.tools_offered
        history = session.current_agent.chat_ctx.items
        said = [i.text_content for i in history if i.type == "message" and i.role == "user"]
        assert said == ["Hi, I'm Dana Whitfield, a haircut on Tuesday please"]
        greeting = next(
            i.text_content
            for i in session.history.items
            if i.type == "message" and i.role == "assistant"
        )
        assert greeting == state.profile.greeting
    assert state.customer_name == "Dana Whitfield"
    assert state.reason == "a haircut on Tuesday"
    assert state.agents_visited == ["intro", "appointments"]
    assert script.problems == []


async def test_known_caller_is_not_asked_for_a_name(make_call: Any, store: Any) -> None:
    store.crew_data.customers.create("Rosa Diaz", "+15550142233")
    state, _, script, session = await start(
        make_call,
        {
            0: steps(
                {"tool": "hand_off_to_desk", "args": {"reason": "move my appointment"}},
                {"say": "Of course, Rosa."},
            )
        },
    )
    assert state.customer_name == "Rosa Diaz"
    async with session:
        await session.start(IntroAgent(state))
        script.begin_turn(0)
        result = await session.run(user_input="I need to move my appointment")
        result.expect.next_event().is_function_call(name="hand_off_to_desk")
        result.expect.next_event().is_function_call_output()
        result.expect.next_event().is_agent_handoff(new_agent_type=AppointmentsAgent)
        said = [
            i.text_content
            for i in session.history.items
            if i.type == "message" and i.role == "assistant"
        ]
        assert said[:2] == [state.profile.greeting, "Good to hear from you again, Rosa."]
    assert "Rosa Diaz (known customer)" in session.current_agent.instructions


async def test_hand_off_without_a_name_is_refused_with_a_sentence(make_call: Any) -> None:
    state, _, script, session = await start(
        make_call,
        {
            0: steps(
                {"tool": "hand_off_to_desk", "args": {"reason": "book"}},
                {"say": "May I have your name?"},
            )
        },
        channel=Channel.WEB,
        caller=None,
    )
    async with session:
        await session.start(IntroAgent(state))
        script.begin_turn(0)
        result = await session.run(user_input="I want to book")
        result.expect.next_event().is_function_call(name="hand_off_to_desk")
        out = result.expect.next_event().is_function_call_output().event().item
        assert out.is_error and "name" in out.output.lower()
        result.expect.next_event().is_message(role="assistant")
    assert type(session.current_agent) is IntroAgent


async def test_wrapup_loops_back_to_the_task_and_end_call_hangs_up(make_call: Any) -> None:
    state, control, script, session = await start(
        make_call,
        {
            -1: steps({"say": "You're all set. Anything else?"}),
            0: steps(
                {"tool": "more_help", "args": {"request": "a beard trim too"}},
                {"say": "Sure, when would you like the beard trim?"},
            ),
            1: steps({"tool": "wrap_up"}, {"say": "Anything else?"}),
            2: steps({"tool": "end_call"}),
        },
    )
    state.customer_id = 1
    async with session:
        await session.start(WrapUpAgent(state))
        if session.current_speech is not None:
            await session.current_speech.wait_for_playout()
        script.begin_turn(0)
        r = await session.run(user_input="Actually, can I add a beard trim?")
        r.expect.next_event().is_function_call(name="more_help")
        r.expect.next_event().is_function_call_output()
        r.expect.next_event().is_agent_handoff(new_agent_type=AppointmentsAgent)
        assert "a beard trim too" in session.current_agent.instructions
        script.begin_turn(1)
        r = await session.run(user_input="Never mind, that's it")
        r.expect.next_event().is_function_call(name="wrap_up")
        r.expect.next_event().is_function_call_output()
        r.expect.next_event().is_agent_handoff(new_agent_type=WrapUpAgent)
        script.begin_turn(2)
        r = await session.run(user_input="No thanks, bye")
        r.expect.next_event().is_function_call(name="end_call")
        goodbye = r.expect.next_event().is_message(role="assistant").event().item
        assert goodbye.text_content == state.profile.goodbye
    assert control.hung_up == "completed"
    assert state.outcome is Outcome.COMPLETED
    assert state.agents_visited == ["wrapup", "appointments", "wrapup"]
    script.finish_turn()
    assert script.problems == []


async def test_profile_task_selects_the_survey_agent(make_call: Any) -> None:
    state, _, script, session = await start(
        make_call,
        {
            0: steps(
                {
                    "tool": "hand_off_to_desk",
                    "args": {"caller_name": "Sam Lee", "reason": "returning your call"},
                },
                {"say": "Thanks Sam. On a scale of 1 to 5, how happy were you?"},
            )
        },
        task="survey",
    )
    async with session:
        await session.start(IntroAgent(state))
        script.begin_turn(0)
        r = await session.run(user_input="Hi, Sam Lee here, you called me")
        r.expect.next_event().is_function_call(name="hand_off_to_desk")
        r.expect.next_event().is_function_call_output()
        r.expect.next_event().is_agent_handoff(new_agent_type=SurveyAgent)


async def test_unknown_task_agent_is_a_clear_error(make_call: Any) -> None:
    # The crew's registered task agents, whatever they are (agents/stages.py).
    known = ", ".join(sorted(task_agents()))
    with pytest.raises(ValueError, match=rf"unknown task agent 'nope'; choose one of {known}$"):
        await make_call(task="nope")


async def test_two_calls_from_one_number_in_the_same_minute_do_not_collide(
    make_call: Any, store: Any
) -> None:
    """Same caller ID, same moment: one customer record, two calls, two separate bookings."""

    async def one_call(slot_id: str) -> Any:
        state, _, script, session = await start(
            make_call,
            {
                0: steps(
                    {
                        "tool": "hand_off_to_desk",
                        "args": {"caller_name": "Dana Whitfield", "reason": "a haircut"},
                    },
                    {"say": "Which time?"},
                ),
                1: steps(
                    {
                        "tool": "book_appointment",
                        "args": {"service": "haircut", "slot_id": slot_id},
                    },
                    {"say": "Booked."},
                ),
            },
        )
        async with session:
            await session.start(IntroAgent(state))
            script.begin_turn(0)
            await session.run(user_input="Dana Whitfield, a haircut please")
            script.begin_turn(1)
            await session.run(user_input="That one")
        script.finish_turn()
        assert script.problems == []
        return state

    a, b = await asyncio.gather(one_call("2026-06-16T09:00"), one_call("2026-06-16T09:30"))
    assert a.info.call_id != b.info.call_id
    assert a.customer_id == b.customer_id
    assert len([c for c in store.crew_data.customers.all() if c.phone == "+15550142233"]) == 1
    booked = sorted((x.start, x.call_id) for x in store.crew_data.appointments.all())
    assert [call for _, call in booked] == [a.info.call_id, b.info.call_id]


async def test_a_warm_transfer_nobody_takes_is_relayed_and_a_message_offered(
    make_call: Any, profile: Any
) -> None:
    state, control, script, session = await start(
        make_call,
        {
            0: steps(
                {"tool": "request_human", "args": {"reason": "a complaint"}},
                {"say": "I'm sorry, nobody is free. Can I take a message?"},
            )
        },
    )
    state.profile = profile.model_copy(update={"warm_transfer": True})
    state.customer_id, state.customer_name = 1, "Grace Kim"
    control.warm_failure = "could not dial human agent"
    async with session:
        await session.start(AppointmentsAgent(state))
        if session.current_speech is not None:
            await session.current_speech.wait_for_playout()
        script.begin_turn(0)
        result = await session.run(user_input="Put me through to a person")
        result.expect.next_event().is_function_call(name="request_human")
        out = result.expect.next_event().is_function_call_output().event().item
        assert out.is_error
        assert "No colleague could take the call (could not dial human agent)" in out.output
        assert "take_message" in out.output
    assert control.transferred_to is None and state.outcome is not Outcome.TRANSFERRED


async def test_an_agent_has_one_name_in_report_handoffs_and_simulate_output() -> None:
    """The stage name everywhere: agents_visited, the transcript's hand-offs (LiveKit's agent
    id) and `simulate`'s printed events; never the class-derived "intro_agent"."""
    from pathlib import Path

    from callcrew.settings import Settings
    from callcrew.simulate.runner import run_scenario
    from callcrew.simulate.scenario import load_scenario

    scenario = load_scenario(Path(__file__).parent / "scenarios" / "new_booking_web.yaml")
    result = await run_scenario(scenario, Settings())
    assert result.passed, result.failures
    report = result.report
    handoffs = [t for t in report["transcript"] if t["role"] == "handoff"]
    assert (
        [h["to"] for h in handoffs]
        == report["agents_visited"]
        == ["intro", "appointments", "wrapup"]
    )
    assert [h["from"] for h in handoffs[1:]] == report["agents_visited"][:-1]
    printed = [e["to"] for t in result.turns for e in t.events if e["type"] == "handoff"]
    assert printed and set(printed) <= set(report["agents_visited"])

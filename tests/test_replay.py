"""The replay LLM: token estimates, the cached-prefix rule, and the script's bookkeeping.

Where a session is needed, ReplayLLM runs inside a real `AgentSession` (text mode, no room)
with a tiny agent defined here, so the tests depend on no crew.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from livekit.agents import Agent, AgentSession, RunContext, ToolError, function_tool, llm
from livekit.agents.metrics.usage import LLMModelUsage
from livekit.agents.voice.run_result import RunResult

from callcrew.simulate.replay import (
    CACHE_BLOCK_TOKENS,
    CACHE_MIN_TOKENS,
    CHARS_PER_TOKEN,
    ReplayLLM,
    ReplayScript,
    cached_tokens,
    estimate_tokens,
    render_request,
)
from callcrew.simulate.scenario import AgentStep

pytestmark = pytest.mark.unit

# Long enough that every request is past the 1,024-token caching threshold.
LONG_INSTRUCTIONS = "You are a weather desk. " + "Answer briefly and politely. " * 200


def steps(*items: dict[str, Any]) -> list[AgentStep]:
    return [AgentStep.model_validate(i) for i in items]


class WeatherAgent(Agent):
    def __init__(self, instructions: str = "You are a weather desk. Answer briefly.") -> None:
        super().__init__(instructions=instructions)
        self.lookups: list[str] = []

    @function_tool
    async def lookup(self, ctx: RunContext[Any], city: str) -> str:
        """Look up today's weather.

        Args:
            city: The city name.
        """
        self.lookups.append(city)
        return f"Sunny in {city}, 24 degrees."

    @function_tool
    async def broken(self, ctx: RunContext[Any]) -> str:
        """A tool that always refuses."""
        raise ToolError("The weather service is down; say so.")


class GreetingAgent(WeatherAgent):
    async def on_enter(self) -> None:
        self.session.generate_reply()


def session_for(script: ReplayScript) -> AgentSession[Any]:
    return AgentSession(llm=ReplayLLM(script))


def model_usage(session: AgentSession[Any]) -> LLMModelUsage:
    (usage,) = [u for u in session.usage.model_usage if isinstance(u, LLMModelUsage)]
    return usage


# --- token estimates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 4000, 1000), ("x" * 4001, 1001)],
)
def test_estimate_tokens_is_four_characters_a_token_rounded_up(text: str, tokens: int) -> None:
    assert CHARS_PER_TOKEN == 4
    assert estimate_tokens(text) == tokens


def test_no_cache_on_the_first_request() -> None:
    assert cached_tokens(None, "x" * 10_000) == 0
    assert cached_tokens("", "x" * 10_000) == 0


def test_short_prompts_are_never_cached() -> None:
    prompt = "x" * (CACHE_MIN_TOKENS * CHARS_PER_TOKEN - 4)  # 1,023 tokens
    assert cached_tokens(prompt, prompt) == 0


def test_a_shared_prefix_is_cached_in_whole_blocks() -> None:
    prefix = "s" * (1300 * CHARS_PER_TOKEN)  # 1,300 tokens in common
    previous = prefix + "first caller line"
    current = prefix + "second caller line, longer"
    got = cached_tokens(previous, current)
    assert got == 1280  # ten 128-token blocks; the partial block is not cached
    assert got % CACHE_BLOCK_TOKENS == 0


def test_an_identical_long_prompt_is_cached_up_to_the_last_whole_block() -> None:
    prompt = "y" * (2000 * CHARS_PER_TOKEN)
    assert cached_tokens(prompt, prompt) == 1920


def test_a_prefix_below_the_threshold_is_not_cached_even_in_a_long_prompt() -> None:
    common = "c" * (1000 * CHARS_PER_TOKEN)
    previous = common + "A" + "z" * 8000
    current = common + "B" + "z" * 8000
    assert estimate_tokens(current) > CACHE_MIN_TOKENS
    assert cached_tokens(previous, current) == 0


def test_a_change_at_the_start_loses_the_whole_cache() -> None:
    # The static part of a prompt must come first and stay byte-identical.
    body = "b" * (3000 * CHARS_PER_TOKEN)
    assert cached_tokens("Now: 09:00\n" + body, "Now: 09:01\n" + body) == 0
    assert cached_tokens(body + "Now: 09:00", body + "Now: 09:01") == 2944


def test_exactly_the_threshold_is_cached() -> None:
    prompt = "t" * (CACHE_MIN_TOKENS * CHARS_PER_TOKEN)
    assert cached_tokens(prompt, prompt + "more") == CACHE_MIN_TOKENS


def test_render_request_lists_tools_then_the_conversation() -> None:
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="Be brief.")
    ctx.add_message(role="user", content="Weather in Oslo?")
    ctx.insert(
        [
            llm.FunctionCall(call_id="c1", name="lookup", arguments='{"city": "Oslo"}'),
            llm.FunctionCallOutput(call_id="c1", name="lookup", output="Rain.", is_error=False),
        ]
    )
    ctx.add_message(role="assistant", content="It's raining in Oslo.")
    tools = [t for t in WeatherAgent().tools if isinstance(t, llm.Tool)]
    text = render_request(ctx, tools)
    lines = text.splitlines()
    assert lines[0].startswith("tool ")
    assert any(line.startswith("tool lookup: Look up today's weather.") for line in lines)
    assert lines[-5:] == [
        "system: Be brief.",
        "user: Weather in Oslo?",
        'call lookup({"city": "Oslo"})',
        "result lookup: Rain.",
        "assistant: It's raining in Oslo.",
    ]
    assert render_request(ctx, tools) == text  # stable


# --- the script's bookkeeping, without a session -----------------------------------------------


def test_next_step_takes_the_current_turns_responses_in_order() -> None:
    script = ReplayScript(turns={0: steps({"say": "one"}, {"say": "two"}), 1: steps({"say": "3"})})
    script.begin_turn(0)
    first = script.next_step([])
    second = script.next_step([])
    assert (first and first.say, second and second.say) == ("one", "two")
    script.begin_turn(1)
    third = script.next_step([])
    assert third is not None and third.say == "3"
    script.finish_turn()
    assert script.problems == []


def test_running_out_of_responses_is_a_problem_naming_turn_and_tools() -> None:
    script = ReplayScript(turns={0: []})
    script.begin_turn(0)
    assert script.next_step(["lookup", "broken"]) is None
    assert script.problems == [
        "caller line 1: the agent asked the model for another response but the script has none "
        "left (tools offered: lookup, broken)"
    ]


def test_running_out_with_no_tools_says_none() -> None:
    script = ReplayScript(turns={})
    assert script.next_step([]) is None
    assert script.problems == [
        "before the first caller line: the agent asked the model for another response but the "
        "script has none left (tools offered: none)"
    ]


def test_unused_responses_are_reported_once_when_the_turn_ends() -> None:
    script = ReplayScript(turns={0: steps({"say": "used"}, {"tool": "lookup"}, {"say": "x"})})
    script.begin_turn(0)
    script.next_step(["lookup"])
    script.begin_turn(1)  # moving on finishes turn 0
    script.finish_turn()  # turn 1 had nothing scripted: no problem
    script.finish_turn()  # idempotent
    assert script.problems == [
        "caller line 1: 2 scripted agent response(s) were never used (first unused: lookup()); "
        "the crew took a different path"
    ]


def test_unused_opening_responses_are_reported() -> None:
    script = ReplayScript(turns={-1: steps({"say": "Hello!"}), 0: []})
    script.begin_turn(0)
    assert script.problems == [
        "before the first caller line: 1 scripted agent response(s) were never used "
        "(first unused: 'Hello!'); the crew took a different path"
    ]


def test_a_tool_the_agent_does_not_offer_is_a_problem_but_the_step_is_still_played() -> None:
    script = ReplayScript(
        turns={0: steps({"tools": [{"name": "lookup"}, {"name": "book_table"}], "say": "ok"})}
    )
    script.begin_turn(0)
    step = script.next_step(["lookup", "broken"])
    assert step is not None
    assert script.problems == [
        "caller line 1: scripted tool call 'book_table' is not a tool of the current agent "
        "(it has: lookup, broken)"
    ]


def test_the_script_does_not_consume_the_scenarios_lists() -> None:
    turn = steps({"say": "hi"})
    script = ReplayScript(turns={0: turn})
    script.begin_turn(0)
    script.next_step([])
    assert len(turn) == 1


def test_replay_llm_names_itself() -> None:
    model = ReplayLLM(ReplayScript(turns={}))
    assert (model.model, model.provider) == ("replay", "callcrew")


# --- through a real AgentSession -----------------------------------------------------------------


async def test_a_say_step_is_the_agents_reply() -> None:
    script = ReplayScript(turns={0: steps({"say": "It's sunny everywhere today."})})
    async with session_for(script) as session:
        await session.start(WeatherAgent())
        script.begin_turn(0)
        result: RunResult[Any] = await session.run(user_input="How's the weather?")
        message = result.expect.next_event().is_message(role="assistant").event().item
        result.expect.no_more_events()
        assert message.text_content == "It's sunny everywhere today."
    script.finish_turn()
    assert script.problems == []
    (call,) = script.calls
    assert call.turn == 0
    assert sorted(call.tools_offered) == ["broken", "lookup"]
    assert call.output_tokens == estimate_tokens("It's sunny everywhere today.")
    assert call.input_tokens > 0
    assert call.cached_tokens == 0


async def test_a_tool_step_runs_the_tool_and_asks_the_model_again() -> None:
    agent = WeatherAgent()
    script = ReplayScript(
        turns={
            0: steps(
                {"tool": "lookup", "args": {"city": "Lisbon"}},
                {"say": "Sunny in Lisbon, 24 degrees."},
            )
        }
    )
    async with session_for(script) as session:
        await session.start(agent)
        script.begin_turn(0)
        result: RunResult[Any] = await session.run(user_input="Weather in Lisbon?")
        result.expect.next_event().is_function_call(name="lookup", arguments={"city": "Lisbon"})
        result.expect.next_event().is_function_call_output(output="Sunny in Lisbon, 24 degrees.")
        result.expect.next_event().is_message(role="assistant")
        result.expect.no_more_events()
    script.finish_turn()
    assert agent.lookups == ["Lisbon"]
    assert script.problems == []
    assert len(script.calls) == 2
    # The second request carries the tool call and its result: it is longer.
    assert script.calls[1].input_tokens > script.calls[0].input_tokens
    assert script.calls[0].output_tokens == estimate_tokens('lookup{"city": "Lisbon"}')


async def test_several_tool_calls_in_one_response() -> None:
    agent = WeatherAgent()
    script = ReplayScript(
        turns={
            0: steps(
                {
                    "tools": [
                        {"name": "lookup", "args": {"city": "Rome"}},
                        {"name": "lookup", "args": {"city": "Oslo"}},
                    ]
                },
                {"say": "Rome is sunny and so is Oslo."},
            )
        }
    )
    async with session_for(script) as session:
        await session.start(agent)
        script.begin_turn(0)
        await session.run(user_input="Rome and Oslo?")
    script.finish_turn()
    assert sorted(agent.lookups) == ["Oslo", "Rome"]
    assert script.problems == []
    assert len(script.calls) == 2


async def test_a_tool_error_goes_back_to_the_model_which_needs_another_response() -> None:
    script = ReplayScript(
        turns={0: steps({"tool": "broken"}, {"say": "Sorry, the weather service is down."})}
    )
    async with session_for(script) as session:
        await session.start(WeatherAgent())
        script.begin_turn(0)
        result: RunResult[Any] = await session.run(user_input="Weather?")
        result.expect.next_event().is_function_call(name="broken")
        out = result.expect.next_event().is_function_call_output().event().item
        assert out.is_error
        assert "The weather service is down" in out.output
        result.expect.next_event().is_message(role="assistant")
    script.finish_turn()
    assert script.problems == []
    assert len(script.calls) == 2


async def test_script_exhaustion_is_reported_and_the_session_carries_on() -> None:
    script = ReplayScript(turns={0: steps({"tool": "lookup", "args": {"city": "Nice"}}), 1: []})
    async with session_for(script) as session:
        await session.start(WeatherAgent())
        script.begin_turn(0)
        await session.run(user_input="Weather in Nice?")
        script.begin_turn(1)
        await session.run(user_input="Hello?")
    script.finish_turn()
    assert script.problems == [
        "caller line 1: the agent asked the model for another response but the script has none "
        "left (tools offered: broken, lookup)",
        "caller line 2: the agent asked the model for another response but the script has none "
        "left (tools offered: broken, lookup)",
    ]
    # An empty answer still reports its usage: the request was made.
    assert [c.step is None for c in script.calls] == [False, True, True]
    assert all(c.output_tokens == 0 for c in script.calls[1:])


async def test_unused_steps_are_reported_after_the_turn() -> None:
    script = ReplayScript(turns={0: steps({"say": "Sunny."}, {"say": "Also windy."})})
    async with session_for(script) as session:
        await session.start(WeatherAgent())
        script.begin_turn(0)
        await session.run(user_input="Weather?")
    script.finish_turn()
    assert script.problems == [
        "caller line 1: 1 scripted agent response(s) were never used (first unused: "
        "'Also windy.'); the crew took a different path"
    ]


async def test_a_tool_the_agent_lacks_is_reported_and_the_session_reports_an_error() -> None:
    script = ReplayScript(
        turns={0: steps({"tool": "book_table", "args": {"people": 2}}, {"say": "Done."})}
    )
    async with session_for(script) as session:
        await session.start(WeatherAgent())
        script.begin_turn(0)
        result: RunResult[Any] = await session.run(user_input="A table for two.")
        out = result.expect.next_event().is_function_call_output().event().item
        assert out.is_error
        assert "Unknown function: book_table" in out.output
    script.finish_turn()
    assert script.problems == [
        "caller line 1: scripted tool call 'book_table' is not a tool of the current agent "
        "(it has: broken, lookup)"
    ]


async def test_the_opening_reply_uses_the_scripts_turn_before_the_caller() -> None:
    script = ReplayScript(turns={-1: steps({"say": "Weather desk, hello!"}), 0: []})
    async with session_for(script) as session:
        await session.start(GreetingAgent())
        assert session.current_speech is not None
        await session.current_speech.wait_for_playout()
        said = [i.text_content for i in session.history.items if i.type == "message"]
        assert "Weather desk, hello!" in said
    assert script.problems == []
    assert [c.turn for c in script.calls] == [-1]


async def test_usage_reaches_the_session_as_the_replay_model() -> None:
    script = ReplayScript(
        turns={
            0: steps({"tool": "lookup", "args": {"city": "Bergen"}}, {"say": "Rain in Bergen."}),
            1: steps({"say": "Goodbye."}),
        }
    )
    async with session_for(script) as session:
        await session.start(WeatherAgent(LONG_INSTRUCTIONS))
        for i, line in enumerate(["Bergen?", "Thanks, bye."]):
            script.begin_turn(i)
            await session.run(user_input=line)
        usage = model_usage(session)
    script.finish_turn()
    assert (usage.provider, usage.model) == ("callcrew", "replay")
    assert usage.input_tokens == sum(c.input_tokens for c in script.calls)
    assert usage.input_cached_tokens == sum(c.cached_tokens for c in script.calls)
    assert usage.output_tokens == sum(c.output_tokens for c in script.calls)


async def test_a_growing_conversation_is_cached_after_the_first_request() -> None:
    script = ReplayScript(
        turns={
            0: steps({"say": "Hello, which city?"}),
            1: steps({"tool": "lookup", "args": {"city": "Cork"}}, {"say": "Sunny in Cork."}),
        }
    )
    async with session_for(script) as session:
        await session.start(WeatherAgent(LONG_INSTRUCTIONS))
        for i, line in enumerate(["Hi", "Cork, please"]):
            script.begin_turn(i)
            await session.run(user_input=line)
    calls = script.calls
    assert len(calls) == 3
    assert calls[0].input_tokens > CACHE_MIN_TOKENS
    assert calls[0].cached_tokens == 0
    for previous, call in itertools.pairwise(calls):
        assert call.cached_tokens > 0
        assert call.cached_tokens % CACHE_BLOCK_TOKENS == 0
        # Never more than the previous request, nor than this one.
        assert call.cached_tokens <= min(previous.input_tokens, call.input_tokens)


async def test_changing_the_instructions_mid_call_loses_the_cache() -> None:
    # The replay renders tools first, then the system prompt; a change inside the instructions
    # breaks the shared prefix just after the tools.
    script = ReplayScript(turns={0: steps({"say": "Hello."}), 1: steps({"say": "Hi again."})})
    agent = WeatherAgent("Now: 09:00. " + LONG_INSTRUCTIONS)
    async with session_for(script) as session:
        await session.start(agent)
        script.begin_turn(0)
        await session.run(user_input="Hi")
        await agent.update_instructions("Now: 09:05. " + LONG_INSTRUCTIONS)
        script.begin_turn(1)
        await session.run(user_input="Hi again")
    assert script.calls[1].input_tokens > CACHE_MIN_TOKENS
    assert script.calls[1].cached_tokens == 0


async def test_time_to_first_token_is_simulated() -> None:
    script = ReplayScript(turns={0: steps({"say": "Slow but sure."})}, ttft_s=0.05)
    async with session_for(script) as session:
        await session.start(WeatherAgent())
        script.begin_turn(0)
        result: RunResult[Any] = await session.run(user_input="Weather?")
        message = result.expect.next_event().is_message(role="assistant").event().item
        assert message.metrics["llm_node_ttft"] >= 0.05


# --- branches on the last tool result ---------------------------------------------------------


BRANCH = {
    "when_ok": [{"say": "It is sunny."}],
    "when_error": [{"say": "The weather service is down."}],
}


@pytest.mark.parametrize(
    ("tool", "args", "said"),
    [
        ("lookup", {"city": "Oslo"}, "It is sunny."),
        ("broken", {}, "The weather service is down."),
    ],
)
async def test_a_branch_follows_the_last_tool_result(
    tool: str, args: dict[str, Any], said: str
) -> None:
    script = ReplayScript(turns={0: steps({"tool": tool, "args": args}, BRANCH)})
    async with session_for(script) as session:
        await session.start(WeatherAgent())
        script.begin_turn(0)
        result: RunResult[Any] = await session.run(user_input="Weather?")
        result.expect.next_event().is_function_call(name=tool)
        result.expect.next_event().is_function_call_output()
        message = result.expect.next_event().is_message(role="assistant").event().item
        assert message.text_content == said
    script.finish_turn()
    assert script.problems == []  # the branch not taken is not "unused"


def test_a_branch_before_any_tool_result_is_a_problem_and_follows_when_ok() -> None:
    script = ReplayScript(turns={0: steps(BRANCH)})
    script.begin_turn(0)
    step = script.next_step(["lookup"], None, None)
    assert step is not None and step.say == "It is sunny."
    assert "came before any tool result" in script.problems[0]


def test_an_empty_branch_uses_the_steps_after_it() -> None:
    script = ReplayScript(turns={0: steps({"when_error": [{"say": "Sorry."}]}, {"say": "Next."})})
    script.begin_turn(0)
    step = script.next_step([], None, False)
    assert step is not None and step.say == "Next."


def test_a_request_at_a_position_already_answered_gets_the_same_step() -> None:
    # LiveKit's preemptive generation asks on the caller's words before the turn commits, and
    # again when the final words differ: the same question, the same scripted answer
    script = ReplayScript(turns={0: steps({"say": "one"}, {"say": "two"})})
    script.begin_turn(0)
    first = script.next_step([], position="start")
    again = script.next_step([], position="start")
    later = script.next_step([], position="after one")
    assert (first and first.say, again and again.say, later and later.say) == (
        "one",
        "one",
        "two",
    )
    script.finish_turn()
    assert script.problems == []
    # without a position every request takes the next step (text rehearsals)
    plain = ReplayScript(turns={0: steps({"say": "one"}, {"say": "two"})})
    plain.begin_turn(0)
    assert [s and s.say for s in (plain.next_step([]), plain.next_step([]))] == ["one", "two"]

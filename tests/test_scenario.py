"""Scenario files: shorthands, LiveKit frontdesk keys, and errors that name file and field."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from callcrew.call import Channel
from callcrew.simulate.scenario import (
    AgentStep,
    CallsScenario,
    ScenarioError,
    ToolCall,
    expand_paths,
    is_scenario_data,
    load_scenario,
    load_scenarios,
    parse_scenario,
)

pytestmark = pytest.mark.unit

SCENARIOS = Path(__file__).parent / "scenarios"


def minimal(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "A call",
        "caller": "+15550142233",
        "now": "2026-06-12T09:00:00",
        "turns": [{"caller": "Hi"}],
    }
    data.update(extra)
    return data


def error_of(data: Any, source: str = "calls/x.yaml") -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, source)
    return str(info.value)


# --- agent steps -------------------------------------------------------------------------------


def test_say_only_step() -> None:
    step = AgentStep.model_validate({"say": "Hello there."})
    assert step.say == "Hello there."
    assert step.tool_calls() == []
    assert step.describe() == "'Hello there.'"
    assert step.output_text() == "Hello there."


def test_tool_shorthand_is_one_call_with_its_args() -> None:
    step = AgentStep.model_validate({"tool": "find_free_slots", "args": {"service": "haircut"}})
    assert step.tool_calls() == [ToolCall(name="find_free_slots", args={"service": "haircut"})]
    assert step.describe() == "find_free_slots()"
    assert step.output_text() == 'find_free_slots{"service": "haircut"}'


def test_tool_without_args_calls_with_no_arguments() -> None:
    step = AgentStep.model_validate({"tool": "wrap_up"})
    assert step.tool_calls() == [ToolCall(name="wrap_up", args={})]


def test_say_and_tool_in_one_response() -> None:
    step = AgentStep.model_validate({"say": "Done.", "tool": "wrap_up"})
    assert [c.name for c in step.tool_calls()] == ["wrap_up"]
    assert step.describe() == "'Done.' + wrap_up()"
    assert step.output_text() == "Done.wrap_up{}"


def test_the_shorthand_tool_comes_before_the_tools_list() -> None:
    step = AgentStep.model_validate(
        {
            "tool": "list_my_appointments",
            "tools": [{"name": "find_free_slots", "args": {"service": "beard"}}, {"name": "x"}],
        }
    )
    assert [c.name for c in step.tool_calls()] == ["list_my_appointments", "find_free_slots", "x"]
    assert step.tool_calls()[2].args == {}


def test_describe_shortens_long_text() -> None:
    step = AgentStep.model_validate({"say": "x" * 100})
    assert step.describe() == repr("x" * 40)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"args": {"service": "haircut"}}, "'args' needs 'tool'"),
        ({"say": "Hi", "args": {}}, "'args' needs 'tool'"),
        ({}, "a step needs 'say'"),
        ({"say": ""}, "a step needs 'say'"),
        ({"tools": []}, "a step needs 'say'"),
        ({"say": "Hi", "function": "wrap_up"}, "Extra inputs are not permitted"),
        ({"tools": [{"name": ""}]}, "at least 1 character"),
        ({"tools": [{"name": "x", "arguments": {}}]}, "Extra inputs are not permitted"),
    ],
)
def test_bad_steps_name_the_turn_and_step(step: dict[str, Any], message: str) -> None:
    text = error_of(minimal(turns=[{"caller": "Hi", "agent": [{"say": "ok"}, step]}]))
    assert "turns.0.agent.1" in text
    assert message in text


# --- the scenario --------------------------------------------------------------------------------


def test_a_minimal_scenario_has_sensible_defaults() -> None:
    s = parse_scenario(minimal())
    assert s.channel is Channel.INBOUND
    assert s.now == datetime(2026, 6, 12, 9, 0)
    assert s.task is None and s.profile is None and s.dialled is None
    assert s.opening == [] and s.turns[0].agent == []
    assert s.data.customers == [] and s.data.appointments == []
    assert s.expect.model_dump(exclude_none=True) == {}
    assert s.replay == {}
    assert s.label == "A call"  # no source file: the name


def test_loaded_from_a_file_the_label_is_the_file_stem() -> None:
    s = load_scenario(SCENARIOS / "slot_just_taken.yaml")
    assert s.label == "slot_just_taken"
    assert s.source == SCENARIOS / "slot_just_taken.yaml"
    assert s.name == "A slot that is already taken"


def test_a_web_call_needs_no_caller_but_a_phone_call_does() -> None:
    assert parse_scenario(minimal(channel="web", caller=None)).caller is None
    for channel in ("inbound", "outbound"):
        text = error_of(minimal(channel=channel, caller=None))
        assert f"a {channel} call needs 'caller'" in text


@pytest.mark.parametrize("number", ["5550142233", "+0555014", "+1 555 014 2233", "+1555", "tel"])
def test_caller_and_dialled_numbers_must_be_e164(number: str) -> None:
    for field in ("caller", "dialled"):
        text = error_of(minimal(**{field: number}))
        assert text.startswith("calls/x.yaml: invalid scenario")
        assert f"- {field}: {number!r} is not an E.164 number" in text


def test_seeded_customer_phones_must_be_e164() -> None:
    text = error_of(minimal(data={"customers": [{"name": "Ann", "phone": "555-1234"}]}))
    assert "data.customers.0.phone: '555-1234' is not an E.164 number" in text


def test_seeded_appointments_refer_to_a_seeded_customer_by_name_or_phone() -> None:
    data = {
        "customers": [{"name": "Ann Lee", "phone": "+15550100001"}, {"name": "Bo"}],
        "appointments": [
            {"customer": "Ann Lee", "service": "haircut", "start": "2026-06-16T09:00"},
            {"customer": "+15550100001", "service": "beard", "start": "2026-06-16T10:00"},
            {
                "customer": "Bo",
                "service": "color",
                "start": "2026-06-17T09:00",
                "status": "cancelled",
            },
        ],
    }
    s = parse_scenario(minimal(data=data))
    assert [a.status for a in s.data.appointments] == ["booked", "booked", "cancelled"]
    data["appointments"].append(
        {"customer": "+15550199999", "service": "haircut", "start": "2026-06-18T09:00"}
    )
    assert "data: appointments: unknown customer '+15550199999'" in error_of(minimal(data=data))


@pytest.mark.parametrize(
    ("change", "fragment"),  # a value of None removes the key
    [
        ({"turns": None}, "needs 'turns' (scripted caller lines) or 'instructions'"),
        ({"turns": []}, "turns: List should have at least 1 item"),
        ({"turns": [{"caller": ""}]}, "turns.0.caller: String should have at least 1 character"),
        ({"turns": [{"agent": [{"say": "hi"}]}]}, "turns.0.caller: Field required"),
        ({"turns": [{"caller": "hi", "user": "x"}]}, "turns.0.user: Extra inputs"),
        ({"now": "soon"}, "now: Input should be a valid datetime"),
        ({"name": ""}, "name: String should have at least 1 character"),
        ({"channel": "sip"}, "channel: Input should be 'inbound', 'outbound' or 'web'"),
        ({"expect": {"outcome": "booked", "final": "wrapup"}}, "expect.final: Extra inputs"),
        ({"expect": {"customers": -1}}, "expect.customers: Input should be greater than"),
        (
            {"expect": {"appointments": [{"service": "haircut"}]}},
            "expect.appointments.0.start: Field required",
        ),
        ({"data": {"rooms": []}}, "data.rooms: Extra inputs are not permitted"),
        ({"replay": {"ttft_ms": -5}}, "replay: replay timings must be finite and not negative"),
        ({"replay": {"ttft": 5}}, "replay: unknown replay setting(s): ttft"),
        ({"caller_name": "Dana"}, "caller_name: Extra inputs are not permitted"),
    ],
)
def test_errors_name_the_file_and_the_field(change: dict[str, Any], fragment: str) -> None:
    data = minimal()
    for key, value in change.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    text = error_of(data)
    assert text.splitlines()[0] == "calls/x.yaml: invalid scenario"
    assert fragment in text


def test_every_problem_is_listed_at_once() -> None:
    text = error_of({"caller": "nope", "colour": "blue", "turns": []})
    lines = text.splitlines()
    assert lines[0] == "calls/x.yaml: invalid scenario"
    joined = "\n".join(lines[1:])
    for fragment in (
        "name: Field required",
        "turns: List should",
        "colour: Extra inputs",
        "caller: 'nope' is not an E.164",
    ):
        assert fragment in joined


@pytest.mark.parametrize("data", [None, [], "a call", 3])
def test_a_scenario_must_be_a_mapping(data: Any) -> None:
    assert error_of(data) == "calls/x.yaml: a scenario must be a YAML mapping"


def test_replay_timing_and_task_and_profile_overrides() -> None:
    s = parse_scenario(
        minimal(
            replay={"ttft_ms": 350, "tokens_per_s": 40},
            task="survey",
            profile={"name": "Other Salon"},
        )
    )
    assert s.replay == {"ttft_ms": 350.0, "tokens_per_s": 40.0}
    assert s.task == "survey"
    assert s.profile == {"name": "Other Salon"}
    assert parse_scenario(minimal(profile="salon.yaml")).profile == Path("salon.yaml")


def test_expected_appointments_parse_local_times() -> None:
    s = parse_scenario(
        minimal(expect={"appointments": [{"start": "2026-06-16T09:30", "customer": "Dana"}]})
    )
    (appt,) = s.expect.appointments or []
    assert appt.start == datetime(2026, 6, 16, 9, 30)
    assert appt.status == "booked"
    assert appt.service is None


# --- LiveKit frontdesk keys ----------------------------------------------------------------------


def frontdesk(**userdata: Any) -> dict[str, Any]:
    data = minimal()
    del data["name"], data["now"]
    data.update(
        label="Caller opens with a specific date",
        instructions="You are Tom Okafor. Ask for July 16.",
        agent_expectations="The agent checks July 16 and books 1 pm.",
        tags={"feature": "booking"},
        userdata=userdata,
    )
    return data


def test_frontdesk_label_now_and_expected_booking_map_to_our_fields() -> None:
    s = parse_scenario(
        frontdesk(
            now="2026-07-10T09:00:00",
            available_slots=["2026-07-16T09:30:00", "2026-07-16T13:00:00"],
            expected_booking="2026-07-16T13:00:00",
        )
    )
    assert s.name == "Caller opens with a specific date"
    assert s.label == "Caller opens with a specific date"
    assert s.now == datetime(2026, 7, 10, 9, 0)
    assert s.instructions == "You are Tom Okafor. Ask for July 16."
    assert s.agent_expectations == "The agent checks July 16 and books 1 pm."
    assert s.tags == {"feature": "booking"}
    # frontdesk's expected_booking: the single slot booked on this call (not the whole store).
    assert s.expect.booked_on_call == [datetime(2026, 7, 16, 13, 0)]
    assert s.expect.appointments is None


def test_frontdesk_expected_booking_null_means_nothing_booked() -> None:
    s = parse_scenario(frontdesk(now="2026-06-12T09:00:00", expected_booking=None))
    assert s.expect.booked_on_call == []


def test_frontdesk_without_expected_booking_leaves_the_store_unchecked() -> None:
    s = parse_scenario(frontdesk(now="2026-06-12T09:00:00"))
    assert s.expect.appointments is None
    assert s.expect.booked_on_call is None


def test_our_own_keys_win_over_frontdesk_ones() -> None:
    data = frontdesk(now="2026-06-20T09:00:00", expected_booking="2026-06-16T09:00:00")
    data["now"] = "2026-06-12T09:00:00"
    data["expect"] = {"outcome": "booked", "appointments": []}
    s = parse_scenario(data)
    assert s.now == datetime(2026, 6, 12, 9, 0)
    assert s.expect.appointments == []
    assert s.expect.outcome == "booked"  # the rest of `expect` is kept


def test_frontdesk_expected_booking_merges_into_an_existing_expect() -> None:
    data = frontdesk(now="2026-06-12T09:00:00", expected_booking="2026-06-16T09:00:00")
    data["expect"] = {"outcome": "booked"}
    s = parse_scenario(data)
    assert s.expect.outcome == "booked"
    assert s.expect.booked_on_call == [datetime(2026, 6, 16, 9, 0)]


def test_frontdesk_userdata_keys_we_do_not_know_are_refused() -> None:
    text = error_of(frontdesk(now="2026-06-12T09:00:00", calendar="google"))
    assert "userdata: unsupported key(s) calendar" in text


def test_frontdesk_without_now_uses_frontdesks_pinned_clock() -> None:
    s = parse_scenario(frontdesk(expected_booking=None))
    assert s.now == datetime(2026, 6, 12, 9, 0)


def test_frontdesk_userdata_must_be_a_mapping() -> None:
    data = frontdesk()
    data["userdata"] = "x"
    assert "userdata: must be a mapping" in error_of(data)


def test_label_and_name_together_keep_the_name() -> None:
    data = minimal()
    data["label"] = "ignored alias"
    assert parse_scenario(data).name == data["name"]


def test_a_frontdesk_suite_file_loads_every_scenario(tmp_path: Path) -> None:
    suite = {
        "name": "Appointment scheduling",
        "scenarios": [frontdesk(expected_booking=None), frontdesk(now="2026-06-13T10:00:00")],
    }
    f = tmp_path / "scenarios.yaml"
    f.write_text(yaml.safe_dump(suite))
    loaded = load_scenarios(f)
    assert [s.label for s in loaded] == ["scenarios[0]", "scenarios[1]"]
    assert loaded[1].now == datetime(2026, 6, 13, 10, 0)
    bad = {"scenarios": [frontdesk(), {"label": "broken"}]}
    f.write_text(yaml.safe_dump(bad))
    with pytest.raises(ScenarioError, match=r"scenarios\[1\]"):
        load_scenarios(f)


def test_the_library_frontdesk_scenario_loads() -> None:
    s = load_scenario(SCENARIOS / "frontdesk_closed_monday.yaml")
    assert s.name == "Caller asks for Monday, when the salon is closed"
    assert s.now == datetime(2026, 6, 13, 9, 30)
    assert s.expect.booked_on_call == [datetime(2026, 6, 16, 9, 0)]
    assert s.instructions and s.agent_expectations


# --- files and folders ---------------------------------------------------------------------------


def test_load_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.yaml: scenario file not found"):
        load_scenario(tmp_path / "nope.yaml")


def test_load_reports_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"is a folder; give scenario files"):
        load_scenario(tmp_path)


def test_load_reports_where_the_yaml_breaks(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text('name: x\nnow: "2026-06-12T09:00:00"\nturns:\n  - caller: [oops\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: not valid YAML at line ")


def test_load_names_the_file_in_validation_errors(tmp_path: Path) -> None:
    path = tmp_path / "call.yaml"
    path.write_text('name: x\ncaller: "+15550142233"\nnow: "2026-06-12T09:00:00"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == (
        f"{path}: invalid scenario\n  - (top level): needs 'turns' (scripted caller lines) or "
        "'instructions' (a caller persona for simulate --caller-llm)"
    )


def test_an_empty_file_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(ScenarioError, match="a scenario must be a YAML mapping"):
        load_scenario(path)


def test_expand_paths_sorts_folders_and_keeps_files(tmp_path: Path) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    for name in ("b.yaml", "a.yml", "c.yaml", "notes.md"):
        (folder / name).write_text("turns: []\n")
    single = tmp_path / "single.yaml"
    assert expand_paths([single, folder]) == [
        single,
        folder / "a.yml",
        folder / "b.yaml",
        folder / "c.yaml",
    ]


def test_expand_paths_refuses_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="folder holds no scenario files"):
        expand_paths([tmp_path])


def test_every_library_scenario_parses_and_describes_itself() -> None:
    files = expand_paths([SCENARIOS])
    assert len(files) >= 10
    for path in files:
        s = load_scenario(path)
        assert s.description.strip(), path
        assert s.expect.model_dump(exclude_none=True), path


# --- several calls on one store, branches, turn expectations, what a scenario file is ---------


def two_calls(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Two calls",
        "caller": "+15550142233",
        "now": "2026-06-12T09:00:00",
        "profile": {"warm_transfer": True},
        "calls": [
            {"turns": [{"caller": "Hi"}]},
            {"caller": "+15550142234", "now": "2026-06-13T10:00:00", "turns": [{"caller": "Yo"}]},
        ],
    }
    data.update(extra)
    return data


def test_calls_inherit_the_files_settings_unless_they_set_their_own(tmp_path: Path) -> None:
    path = tmp_path / "pair.yaml"
    path.write_text(yaml.safe_dump(two_calls(run="together")))
    [s] = load_scenarios(path)
    assert isinstance(s, CallsScenario) and s.run == "together"
    first, second = s.calls
    assert first.caller == "+15550142233" and first.now == datetime(2026, 6, 12, 9, 0)
    assert first.profile == {"warm_transfer": True}
    assert second.caller == "+15550142234" and second.now == datetime(2026, 6, 13, 10, 0)
    assert first.name == "Two calls (call 1)"
    assert [first.label, second.label] == ["pair call 1", "pair call 2"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"calls": []}, "calls: List should have at least 1 item"),
        ({"run": "parallel"}, "run: Input should be 'sequence' or 'together'"),
        ({"turns": [{"caller": "Hi"}]}, "'turns' and 'opening' go inside each of the 'calls'"),
        ({"expect": {"outcome": "booked"}}, "expect: outcome belong(s) under each call"),
        (
            {"calls": [{"data": {}, "turns": [{"caller": "Hi"}]}]},
            "calls[0]: 'data' belongs at the top of the file",
        ),
        (
            {"calls": [{"channel": "inbound", "caller": None, "turns": [{"caller": "x"}]}]},
            "calls.0",
        ),
    ],
)
def test_calls_errors_name_the_field(change: dict[str, Any], fragment: str) -> None:
    assert fragment in error_of(two_calls(**change))


def test_a_branch_step_holds_only_branches() -> None:
    step = AgentStep.model_validate(
        {"when_ok": [{"say": "Booked."}], "when_error": [{"tool": "find_free_slots"}]}
    )
    assert step.is_branch and step.describe() == "when_ok/when_error branch"
    assert [s.say for s in step.branch(False)] == ["Booked."]
    assert step.branch(True)[0].tool == "find_free_slots"
    assert AgentStep.model_validate({"when_error": [{"say": "x"}]}).branch(False) == []
    text = error_of(minimal(turns=[{"caller": "Hi", "agent": [{"say": "x", "when_ok": []}]}]))
    assert "a branch step holds only 'when_ok' and/or 'when_error'" in text


def test_a_turn_may_expect_store_and_tool_counts() -> None:
    s = parse_scenario(
        minimal(
            turns=[
                {
                    "caller": "Hi",
                    "expect": {"tools_called": {"book_appointment": 1}, "customers": 1},
                }
            ]
        )
    )
    assert s.turns[0].expect is not None
    assert s.turns[0].expect.tools_called == {"book_appointment": 1}
    assert "turns.0.expect.final_agent: Extra inputs" in error_of(
        minimal(turns=[{"caller": "Hi", "expect": {"final_agent": "wrapup"}}])
    )


@pytest.mark.parametrize(
    ("expect", "fragment"),
    [
        ({"tools_called": {"book_appointment": -1}}, "tool counts must not be negative"),
        ({"within_turns": {"request_human": 0}}, "within_turns counts caller lines from 1"),
        ({"actions": ["booked", "sold"]}, "unknown action(s) sold"),
    ],
)
def test_richer_expectations_are_validated(expect: dict[str, Any], fragment: str) -> None:
    assert fragment in error_of(minimal(expect=expect))


def test_outcome_not_takes_one_or_many() -> None:
    assert parse_scenario(minimal(expect={"outcome_not": "booked"})).expect.outcome_not == [
        "booked"
    ]


@pytest.mark.parametrize(
    ("data", "is_one"),
    [
        ({"turns": []}, True),
        ({"calls": []}, True),
        ({"scenarios": []}, True),
        ({"name": "Salon", "greeting": "Hi", "services": []}, False),
        (["turns"], False),
        (None, False),
    ],
)
def test_what_counts_as_a_scenario_file(data: Any, is_one: bool) -> None:
    assert is_scenario_data(data) is is_one


def test_a_folder_skips_a_business_profile_beside_its_scenarios(tmp_path: Path) -> None:
    (tmp_path / "call.yaml").write_text(yaml.safe_dump(minimal()))
    (tmp_path / "business.yaml").write_text("name: Salon\ngreeting: Hi\n")
    skipped: list[Path] = []
    assert expand_paths([tmp_path], skipped) == [tmp_path / "call.yaml"]
    assert skipped == [tmp_path / "business.yaml"]


def test_outcomes_are_the_engines_and_the_crews() -> None:
    assert parse_scenario(minimal(expect={"outcome": "booked"})).expect.outcome == "booked"
    assert parse_scenario(minimal(expect={"outcome_not": "no_answer"})).expect.outcome_not == [
        "no_answer"
    ]
    text = error_of(
        minimal(expect={"outcome": "sold"}, turns=[{"caller": "Hi", "expect": {"outcome": "x"}}])
    )
    assert "expect.outcome: unknown outcome 'sold'; one of booked, busy," in text
    assert "turns.0.expect.outcome: unknown outcome 'x'" in text


def test_store_and_crew_expectations_parse_beside_the_desks_keys() -> None:
    s = parse_scenario(
        minimal(
            expect={
                "store": {"appointments": [{"service": "haircut"}]},
                "crew": {"customer_name": "Dana"},
                "customers": 1,
            }
        )
    )
    assert s.expect.store == {"appointments": [{"service": "haircut"}]}
    assert s.expect.crew == {"customer_name": "Dana"}

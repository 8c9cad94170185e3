"""Post-call analysis: the analyst LLM is a local stub that answers from the schema and the
transcript it is sent; the worker, store, webhook and CLI are real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from livekit.agents import AgentSession
from livekit.agents.testing import fake_job_context
from typer.testing import CliRunner

from callcrew import worker
from callcrew.call import CallInfo, Channel
from callcrew.cli import app
from callcrew.metrics.analysis import add_analysis, analyse, parameters, spec_for, transcript_text
from callcrew.metrics.analysis_spec import AnalysisSpec
from callcrew.profile import BusinessProfile, parse_profile
from callcrew.settings import Settings
from callcrew.simulate.replay import ReplayLLM, ReplayScript
from callcrew.simulate.scenario import AgentStep
from callcrew.store import open_store
from tests.scripted_llm_stub import ScriptedLLM, serve, serve_in_thread

pytestmark = pytest.mark.unit

SPEC = {
    "summary": "One sentence.",
    "success": "An appointment was booked.",
    "data": {
        "service": {"type": "string", "description": "the service asked for"},
        "booked": {"type": "boolean", "description": "an appointment was booked"},
    },
}


def report(call_id: str = "call_a1", booked: bool = True) -> dict[str, Any]:
    transcript: list[dict[str, Any]] = [
        {"role": "agent", "text": "Hello, Maple Street Salon."},
        {"role": "caller", "text": "Hi, I'm Dana, a haircut on Tuesday please."},
        {
            "role": "tool_call",
            "name": "book_appointment",
            "arguments": '{"service": "haircut", "slot_id": "2026-06-16T09:30"}',
        },
    ]
    if booked:
        transcript.append(
            {
                "role": "tool_result",
                "name": "book_appointment",
                "output": "Booked appointment 1: Haircut on Tuesday June 16 at 9:30 am.",
                "is_error": False,
            }
        )
    return {
        "call_id": call_id,
        "channel": "inbound",
        "outcome": "booked" if booked else "caller_hung_up",
        "started_at": "2026-06-12T13:00:00+00:00",
        "transcript": transcript,
    }


def settings_for(url: str, tmp_path: Path, **kw: Any) -> Settings:
    return Settings(
        analysis=True,
        analysis_llm_base_url=url,
        analysis_llm_api_key="test-key",  # type: ignore[arg-type]
        database_url=f"sqlite:///{tmp_path / 'calls.db'}",
        reports_dir=tmp_path / "reports",
        **kw,
    )


def profile_with(spec: dict[str, Any] | None, profile: BusinessProfile) -> BusinessProfile:
    data = profile.as_data()
    data["analysis"] = spec
    return parse_profile(data, "test profile")


async def test_the_profile_schema_is_filled_from_the_transcript(
    tmp_path: Path, profile: BusinessProfile
) -> None:
    spec = spec_for(profile_with(SPEC, profile))
    async with serve(ScriptedLLM()) as stub:
        block = await analyse(report(), settings_for(stub.url, tmp_path), spec, "Maple")
    assert block["summary"] == "The caller said: Hi, I'm Dana, a haircut on Tuesday please."
    assert block["data"] == {"service": "haircut", "booked": True}
    assert block["success"] is True and block["success_reason"] == "an appointment was booked"
    assert block["usage"]["model"] == "gpt-4.1-mini" and block["usage"]["requests"] == 1
    assert block["cost_usd"] is not None and block["cost_usd"] > 0
    # What was sent: the schema as the tool's parameters, the transcript with its tool results.
    (sent,) = stub.of("analysis")
    assert sent["tool_choice"] == "required"
    tool = sent["tools"][0]["function"]
    assert set(tool["parameters"]["properties"]["data"]["properties"]) == {"service", "booked"}
    assert "Booked appointment 1" in sent["messages"][-1]["content"]


async def test_without_a_schema_the_generic_spec_has_no_data(tmp_path: Path) -> None:
    assert spec_for(None, None) == AnalysisSpec()
    async with serve(ScriptedLLM()) as stub:
        block = await analyse(
            report(booked=False), settings_for(stub.url, tmp_path), AnalysisSpec(), "Maple"
        )
    assert block["success"] is False and block["data"] == {}


async def test_no_caller_speech_costs_nothing(tmp_path: Path) -> None:
    r = report()
    r["transcript"] = [t for t in r["transcript"] if t["role"] != "caller"]
    async with serve(ScriptedLLM()) as stub:
        block = await analyse(r, settings_for(stub.url, tmp_path), AnalysisSpec(), "Maple")
    assert block == {"skipped": "the caller said nothing"}
    assert stub.requests == []


async def test_a_slow_analyst_is_cut_off_and_the_report_stands(tmp_path: Path) -> None:
    async with serve(ScriptedLLM(delay_s={"analysis": 5.0})) as stub:
        settings = settings_for(stub.url, tmp_path, analysis_timeout_s=0.3)
        with open_store(settings.database_url) as store:
            saved = report()
            store.reports.save(saved)
            await add_analysis(store, settings, saved, None)
            stored = store.reports.get("call_a1")
    assert stored is not None
    assert stored["analysis"]["error"] == "timed out after 0.3 s"
    assert stored["transcript"] == report()["transcript"]


def test_a_long_transcript_keeps_its_start_and_end() -> None:
    r = report()
    r["transcript"] = [{"role": "caller", "text": f"line {i:04d}"} for i in range(2000)]
    text = transcript_text(r, 1000)
    assert len(text) < 1100
    assert text.startswith("caller: line 0000") and text.endswith("caller: line 1999")
    assert "[... middle of the call left out ...]" in text


def test_schema_fields_must_be_identifiers(profile: BusinessProfile) -> None:
    from callcrew.profile import ProfileError

    with pytest.raises(ProfileError, match="snake_case"):
        profile_with({"data": {"Bad Name": {"description": "x"}}}, profile)
    strict = parameters(AnalysisSpec.model_validate(SPEC))
    assert strict["required"] == ["summary", "success", "success_reason", "data"]
    assert strict["properties"]["data"]["properties"]["booked"]["type"] == ["boolean", "null"]


async def test_every_real_call_is_analysed_saved_and_sent_with_the_webhook(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("DEEPGRAM_API_KEY", "CARTESIA_API_KEY"):
        monkeypatch.setenv(name, "test-key-not-used")
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read()))
        return web.Response(status=204)

    hook_app = web.Application()
    hook_app.router.add_post("/calls", hook)
    hook_runner = web.AppRunner(hook_app)
    await hook_runner.setup()
    site = web.TCPSite(hook_runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    script = ReplayScript(
        turns={
            0: [
                AgentStep(
                    tool="hand_off_to_desk",
                    args={"caller_name": "Dana Whitfield", "reason": "a haircut"},
                ),
                AgentStep(say="Happy to help, Dana."),
            ]
        }
    )
    try:
        async with serve(ScriptedLLM()) as stub:
            settings = settings_for(
                stub.url,
                tmp_path,
                crm_webhook_url=f"http://127.0.0.1:{port}/calls",
                openai_api_key="test-key",
            )
            info = CallInfo(channel=Channel.INBOUND, room="call-1", caller_number="+15550142233")
            with fake_job_context() as ctx:
                run = await worker.start_call(
                    ctx,
                    info,
                    settings,
                    room=None,
                    participant_identity="sip_caller",
                    llm_override=ReplayLLM(script),
                )
                session = run.session
                assert isinstance(session, AgentSession)
                if session.current_speech is not None:
                    await session.current_speech.wait_for_playout()
                script.begin_turn(0)
                await session.run(user_input="Hi, Dana Whitfield here, I'd like a haircut")
                await session.aclose()
                await worker.on_session_end(ctx)
    finally:
        await hook_runner.cleanup()
    with open_store(settings.database_url) as store:
        stored = store.reports.get(info.call_id)
    assert stored is not None
    analysis = stored["analysis"]
    assert analysis["summary"] == "The caller said: Hi, Dana Whitfield here, I'd like a haircut"
    assert analysis["success"] is False  # handed to the desk, nothing booked yet
    # The built-in salon profile defines the schema.
    assert set(analysis["data"]) == {"service", "booked", "caller_name", "wants_human"}
    assert analysis["data"]["service"] == "haircut"
    ((sent,),) = [received]
    assert sent["analysis"] == analysis
    on_disk = json.loads((tmp_path / "reports" / f"{info.call_id}.json").read_text())
    assert on_disk["analysis"] == analysis


def test_calls_analyze_reruns_and_calls_show_prints_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'calls.db'}"
    with open_store(db) as store:
        store.reports.save(report("call_a1"))
        store.reports.save(report("call_b2", booked=False))
    cli = CliRunner()
    env = {"DATABASE_URL": db, "COLUMNS": "1000", "ANALYSIS_LLM_API_KEY": "k"}
    with serve_in_thread(ScriptedLLM()) as stub:
        env["ANALYSIS_LLM_BASE_URL"] = stub.url
        one = cli.invoke(app, ["calls", "analyze", "call_a1"], env=env)
        every = cli.invoke(app, ["calls", "analyze", "--since", "3650d"], env=env)
    assert one.exit_code == 0, one.output
    assert "call_a1  success  The caller said: Hi, I'm Dana" in one.output
    assert every.exit_code == 0, every.output
    assert "call_b2  no success" in every.output and "2 analysed, 0 failed" in every.output
    shown = cli.invoke(app, ["calls", "show", "call_a1"], env=env)
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "success: an appointment was booked" in text
    assert "summary: The caller said: Hi, I'm Dana" in text
    neither = cli.invoke(app, ["calls", "analyze"], env=env)
    assert neither.exit_code == 2
    no_llm = cli.invoke(app, ["calls", "analyze", "call_a1"], env={"DATABASE_URL": db})
    assert no_llm.exit_code == 2 and "ANALYSIS_LLM_BASE_URL" in no_llm.output

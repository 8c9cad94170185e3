"""A rehearsed call's cost, recomputed by hand from its usage and the catalog's prices."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcrew.metrics.call_cost import SPOKEN_CHARS_PER_SECOND, cost_of_report
from callcrew.metrics.pricing import load_catalog
from callcrew.settings import load_settings
from callcrew.simulate.runner import run_scenario
from callcrew.simulate.scenario import load_scenario

pytestmark = pytest.mark.rehearsal

DEMO = Path(__file__).resolve().parents[1] / "agents" / "data" / "demo_call.yaml"


async def test_rehearsed_call_cost_matches_a_hand_computation() -> None:
    result = await run_scenario(load_scenario(DEMO), load_settings(prices_file="seed-2025-05"))
    report = result.report
    cost = report["cost"]
    assert cost["estimated"] is True and cost["catalog"] == "seed-2025-05"

    llm = next(u for u in report["usage"] if u["kind"] == "llm")
    fresh = llm["input_tokens"] - llm["cached_input_tokens"]
    llm_usd = (fresh * 0.40 + llm["cached_input_tokens"] * 0.10 + llm["output_tokens"] * 1.60) / 1e6
    said = [t for t in report["transcript"] if t["role"] in ("caller", "agent")]
    agent_s = sum(len(t["text"]) for t in said if t["role"] == "agent") / SPOKEN_CHARS_PER_SECOND
    caller_s = sum(len(t["text"]) for t in said if t["role"] == "caller") / SPOKEN_CHARS_PER_SECOND
    minutes = max(report["duration_s"], agent_s + caller_s + 3 * 1.0) / 60

    assert cost["llm"] == pytest.approx(llm_usd, abs=1e-6)
    assert cost["tts"] == pytest.approx(agent_s / 60 * 0.0299, abs=1e-6)  # Cartesia per minute
    assert cost["stt"] == pytest.approx(caller_s / 60 * 0.0047, abs=1e-6)  # Deepgram per minute
    assert cost["livekit"] == pytest.approx(minutes * 0.003, abs=1e-6)  # overage rate
    assert cost["telephony"] == pytest.approx(minutes * 0.0034, abs=1e-6)  # inbound: origination
    parts = sum(cost[k] for k in ("livekit", "stt", "llm", "tts", "telephony"))
    assert cost["total"] == pytest.approx(parts, abs=1e-5)


async def test_web_calls_pay_no_telephony_and_unknown_stacks_are_not_priced() -> None:
    result = await run_scenario(load_scenario(DEMO), load_settings())
    report = dict(result.report, channel="web")
    catalog = load_catalog("current")
    web = cost_of_report(report, catalog, "economy", estimate_speech=True)
    assert web is not None and web["telephony"] == 0
    assert cost_of_report(report, catalog, "no-such-stack") is None


def test_a_self_hosted_call_prices_livekit_by_compute() -> None:
    catalog = load_catalog("current")
    report = {"channel": "inbound", "duration_s": 120.0, "usage": [], "transcript": []}
    cloud = cost_of_report(report, catalog, "economy")
    own = cost_of_report(report, catalog, "economy", self_hosted=True)
    assert cloud is not None and own is not None
    entry = catalog.price("livekit/self-hosted")
    assert entry.compute is not None and catalog.vcpu_hour is not None
    per_min = float(entry.compute.cpu_s_per_call_minute * catalog.vcpu_hour.usd / 3600)
    assert own["livekit"] == pytest.approx(2 * per_min, abs=1e-6)
    assert cloud["livekit"] == pytest.approx(2 * 0.003)  # the Cloud plan's overage rate
    assert own["telephony"] == cloud["telephony"]
    assert (cloud["livekit_hosting"], own["livekit_hosting"]) == ("catalog", "self-hosted")

"""The monthly planner against every figure the seed article publishes, and its edge cases."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from callcrew.metrics.planner import PlanInputs, cents, plan, self_hosted_stack, with_vcpu_price
from callcrew.metrics.pricing import BUILTIN_CATALOGS, CatalogError, Stack, load_catalog

pytestmark = pytest.mark.unit


def seed_fixture() -> dict[str, Any]:
    # The repository's copy of the seed's cost model (never read from outside the repo).
    path = Path(__file__).parent / "fixtures" / "seed_costs.json"
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


SEED = seed_fixture()
PUBLISHED = SEED["published"]


def money(x: float) -> Decimal:
    return cents(Decimal(str(x)))


def close_to_published(actual: Decimal, published: float, digits: int) -> bool:
    """Within one unit of the last digit the article prints: it rounds some figures (0.056) and
    truncates others (premium per call 0.150067 printed as 0.1500)."""
    return abs(actual - Decimal(str(published))) <= Decimal(1).scaleb(-digits)


# --- The published figures --------------------------------------------------------------------


def test_defaults_are_the_seed_assumptions() -> None:
    assert PlanInputs() == PlanInputs(**SEED["assumptions"])


@pytest.mark.parametrize("catalog", BUILTIN_CATALOGS)
@pytest.mark.parametrize("stack", ["economy", "premium"])
def test_published_monthly_figures(catalog: str, stack: str) -> None:
    result = plan(PlanInputs(), load_catalog(catalog), stack)
    published = PUBLISHED[stack]
    assert result.calls == PUBLISHED["calls"]
    assert result.minutes == PUBLISHED["minutes"]
    assert result.tts_minutes == PUBLISHED["tts_minutes"]
    assert result.stt_minutes == PUBLISHED["stt_minutes"]
    for component, amount in published["components"].items():
        assert cents(result.components[component]) == money(amount), component
    assert cents(result.total) == money(published["total"])
    assert result.per_call is not None and result.per_hour is not None
    assert cents(result.per_call) == money(published["per_call"])
    assert close_to_published(result.per_call, published["per_call"], 4)
    assert cents(result.per_hour) == money(published["per_hour"])


@pytest.mark.parametrize("catalog", BUILTIN_CATALOGS)
@pytest.mark.parametrize("stack", ["economy", "premium"])
def test_published_40pct_discount(catalog: str, stack: str) -> None:
    result = plan(PlanInputs(discount=0.4), load_catalog(catalog), stack)
    published = PUBLISHED["with_40pct_discount"]
    assert cents(result.total) == money(published[f"{stack}_total"])
    assert result.per_call is not None and result.per_hour is not None
    assert cents(result.per_call) == money(published[f"{stack}_per_call"])
    assert close_to_published(result.per_call, published[f"{stack}_per_call"], 3)
    assert cents(result.per_hour) == money(published[f"{stack}_per_hour"])
    # the discount is on the total; the components stay at list price
    undiscounted = plan(PlanInputs(), load_catalog(catalog), stack)
    assert result.components == undiscounted.components
    assert result.subtotal == undiscounted.total


def test_llm_per_call_exact() -> None:
    result = plan(PlanInputs(), load_catalog("seed-2025-05"), "economy")
    assert result.llm_per_call == Decimal(str(PUBLISHED["llm_per_call"]))


def test_json_contract_shape() -> None:
    out = plan(PlanInputs(), load_catalog("seed-2025-05"), "premium").to_json()
    # The DESIGN contract's keys, in order; issue 20 adds `rules` after them.
    assert list(out) == [
        "stack",
        "calls",
        "minutes",
        "components",
        "total_usd",
        "per_call_usd",
        "per_hour_usd",
        "rules",
    ]
    assert list(out["rules"]) == ["livekit", "stt", "llm", "tts", "telephony"]
    assert list(out["components"]) == ["livekit", "stt", "llm", "tts", "telephony"]
    assert out["stack"] == "premium"
    assert out["components"]["tts"] == 1980.0
    assert out["total_usd"] == 3301.47
    assert out["per_call_usd"] == 0.150067
    assert out["per_hour_usd"] == 3.0


# --- Edge cases -------------------------------------------------------------------------------

SEED_CATALOG = load_catalog("seed-2025-05")


def test_usage_below_included_minutes_pays_the_base_only() -> None:
    # one agent: 2,200 calls, 6,600 min, far under LiveKit's 45,000 and ElevenLabs' 22,000
    result = plan(PlanInputs(agents=1), SEED_CATALOG, "premium")
    assert result.components["livekit"] == Decimal(500)
    assert result.components["tts"] == Decimal(1320)
    assert "min x" not in result.basis["livekit"]  # no overage line


def test_exactly_the_included_minutes_has_no_overage() -> None:
    # 15,000 calls x 3 min = 45,000 min, LiveKit's allowance to the minute
    result = plan(
        PlanInputs(agents=10, calls_per_agent_per_day=75, business_days=20),
        SEED_CATALOG,
        "economy",
    )
    assert result.minutes == 45_000
    assert result.components["livekit"] == Decimal(500)


def test_zero_calls() -> None:
    result = plan(PlanInputs(calls_per_agent_per_day=0), SEED_CATALOG, "premium")
    assert result.calls == 0 and result.minutes == 0
    assert result.components == {
        "livekit": Decimal(500),
        "stt": Decimal(0),
        "llm": Decimal(0),
        "tts": Decimal(1320),
        "telephony": Decimal(0),
    }
    assert result.per_call is None and result.per_hour is None
    out = result.to_json()
    assert out["total_usd"] == 1820.0
    assert out["per_call_usd"] is None and out["per_hour_usd"] is None


def test_discount_zero_leaves_the_total() -> None:
    result = plan(PlanInputs(discount=0), SEED_CATALOG, "economy")
    assert result.total == result.subtotal
    assert result.discount_usd == 0


def test_talk_share_zero_and_one() -> None:
    silent = plan(PlanInputs(agent_talk_share=0), SEED_CATALOG, "economy")
    assert silent.tts_minutes == 0 and silent.stt_minutes == 66_000
    assert silent.components["tts"] == 0
    assert silent.components["stt"] == Decimal("310.2")  # 66,000 x 0.0047
    assert plan(PlanInputs(agent_talk_share=0), SEED_CATALOG, "premium").components[
        "tts"
    ] == Decimal(1320)

    talker = plan(PlanInputs(agent_talk_share=1), SEED_CATALOG, "economy")
    assert talker.stt_minutes == 0 and talker.components["stt"] == 0
    assert talker.components["tts"] == Decimal("1973.4")  # 66,000 x 0.0299
    # telephony and LiveKit run on every minute whoever speaks
    assert talker.components["telephony"] == silent.components["telephony"] == Decimal(297)


def test_turns_scale_only_the_cached_system_prompt() -> None:
    result = plan(PlanInputs(llm_turns_per_call=0), SEED_CATALOG, "economy")
    # 975 x 0.40 + 210 x 1.60 per million
    assert result.llm_per_call == Decimal("0.000726")


def test_fractional_inputs_stay_exact() -> None:
    result = plan(
        PlanInputs(call_minutes=2.5, agent_talk_share=0.45, calls_per_hour=24.5),
        SEED_CATALOG,
        "economy",
    )
    assert result.minutes == Decimal("55000.0")
    assert result.tts_minutes == Decimal("24750.00")
    assert result.components["tts"] == Decimal("740.025")  # 24,750 x 0.0299, no float drift
    assert result.per_hour == result.total / result.calls * Decimal("24.5")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("agents", 0),
        ("calls_per_agent_per_day", -1),
        ("business_days", 0),
        ("call_minutes", 0),
        ("call_minutes", float("nan")),
        ("agent_talk_share", -0.1),
        ("agent_talk_share", 1.01),
        ("llm_turns_per_call", -1),
        ("system_prompt_tokens", -1),
        ("non_cached_input_tokens_per_call", -5),
        ("output_tokens_per_call", -5),
        ("calls_per_hour", 0),
        ("discount", 1),
        ("discount", -0.1),
        ("tts_characters_per_minute", 0),
        ("colour", "blue"),
    ],
)
def test_invalid_inputs(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        PlanInputs(**{field: value})
    assert info.value.errors()[0]["loc"] == (field,)


def test_per_character_tts_needs_characters_per_minute(tmp_path: Path) -> None:
    path = tmp_path / "chars.yaml"
    path.write_text(
        "extends: seed-2025-05\n"
        "models:\n"
        "  cartesia/chars: {kind: tts, per_character: 0.00004, source: t, date: '2025-06'}\n"
        "stacks:\n"
        "  chars: {livekit: livekit/scale, stt: deepgram/nova-2, llm: openai/gpt-4.1-mini,\n"
        "          tts: cartesia/chars, telephony: twilio/sip}\n"
    )
    catalog = load_catalog(path)
    with pytest.raises(CatalogError, match=r"stacks\[chars\]\.tts: billed per character"):
        plan(PlanInputs(), catalog, "chars")
    result = plan(PlanInputs(tts_characters_per_minute=800), catalog, "chars")
    assert result.components["tts"] == Decimal("1056")  # 33,000 min x 800 x 0.00004


def test_local_stack_is_priced_by_compute_and_has_no_trunk() -> None:
    catalog = load_catalog("current")
    result = plan(PlanInputs(), catalog, "local")
    assert result.total > 0
    assert result.basis["telephony"] == "not used"
    assert catalog.vcpu_hour is not None
    for component in ("livekit", "stt", "tts"):
        entry = catalog.price(getattr(catalog.stack("local"), component))
        assert entry.compute is not None
        expected = (
            Decimal(66_000) * entry.compute.cpu_s_per_call_minute * catalog.vcpu_hour.usd / 3600
        )
        assert result.components[component] == expected  # type: ignore[index]
        assert result.rules[component].startswith("compute")  # type: ignore[index]
    assert result.components["llm"] == 0  # a local LLM server's compute is not measured here


# --- Billing basis (issue 20) ------------------------------------------------------------------


def test_stt_billing_rules() -> None:
    catalog = load_catalog("current")
    speech = plan(PlanInputs(), catalog, "economy")
    streamed = plan(PlanInputs(stt_billing="streamed"), catalog, "economy")
    own = plan(PlanInputs(stt_billing="catalog"), catalog, "economy")
    assert speech.components["stt"] == Decimal("155.1")  # 33,000 caller minutes, the seed's
    assert streamed.components["stt"] == Decimal("310.2")  # 66,000: every minute streamed
    assert own.components["stt"] == streamed.components["stt"]  # Deepgram bills audio streamed
    assert "seed rule" in speech.rules["stt"]
    assert "streamed" in streamed.rules["stt"]
    # The seed's catalog says its own rule, so "catalog" reproduces the article there.
    seed = plan(PlanInputs(stt_billing="catalog"), SEED_CATALOG, "economy")
    assert seed.components["stt"] == Decimal("155.1")


def test_a_prompt_under_the_caching_minimum_is_billed_at_the_input_rate() -> None:
    catalog = load_catalog("current")
    short = plan(PlanInputs(system_prompt_tokens=600), catalog, "economy")
    # 6 x 600 input + 975 input + 210 output, nothing cached (OpenAI's 1,024-token minimum)
    assert short.llm_per_call == (Decimal(3600 + 975) * Decimal("0.40") + 210 * Decimal("1.60")) / (
        1_000_000
    )
    assert "caching minimum" in short.rules["llm"]
    long = plan(PlanInputs(system_prompt_tokens=1024), catalog, "economy")
    assert "cached rate" in long.rules["llm"]


def test_self_hosted_livekit_replaces_the_plan_by_compute() -> None:
    catalog = load_catalog("current")
    cloud = plan(PlanInputs(), catalog, "economy")
    own = plan(PlanInputs(), catalog, self_hosted_stack(catalog, "economy"))
    entry = catalog.price("livekit/self-hosted")
    assert entry.compute is not None and catalog.vcpu_hour is not None
    assert own.components["livekit"] == (
        Decimal(66_000) * entry.compute.cpu_s_per_call_minute * catalog.vcpu_hour.usd / 3600
    )
    assert 0 < own.components["livekit"] < cloud.components["livekit"]
    for component in ("stt", "llm", "tts", "telephony"):
        assert own.components[component] == cloud.components[component]  # type: ignore[index]
    dearer = plan(
        PlanInputs(), with_vcpu_price(catalog, 1.0), self_hosted_stack(catalog, "economy")
    )
    assert (
        dearer.components["livekit"] == Decimal(66_000) * entry.compute.cpu_s_per_call_minute / 3600
    )
    with pytest.raises(CatalogError, match="vcpu-hour"):
        with_vcpu_price(catalog, -1)


def test_a_stack_object_with_an_override() -> None:
    catalog = load_catalog("current")
    stack: Stack = catalog.stack("economy").model_copy(update={"llm": "openai/gpt-4.1-nano"})
    result = plan(PlanInputs(), catalog, stack)
    # 12,000 x 0.025 + 975 x 0.10 + 210 x 0.40 per million
    assert result.llm_per_call == Decimal("0.0004815")
    assert result.stack == stack.label

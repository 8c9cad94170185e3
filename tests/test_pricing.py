"""The price catalog (data files, loading, errors) and pricing one measured call."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from callcrew.metrics.pricing import (
    BUILTIN_CATALOGS,
    CallUsage,
    CatalogError,
    TokenUsage,
    load_catalog,
    price_call,
)

pytestmark = pytest.mark.unit


def seed_fixture() -> dict[str, Any]:
    # The repository's copy of the seed's cost model (never read from outside the repo).
    path = Path(__file__).parent / "fixtures" / "seed_costs.json"
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def write(tmp_path: Path, text: str, name: str = "prices.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def D(x: str) -> Decimal:
    return Decimal(x)


# --- The built-in catalogs --------------------------------------------------------------------


def test_builtin_catalogs_ship_as_package_data() -> None:
    files = {p.name for p in resources.files("callcrew.data.prices").iterdir()}
    assert {f"{name}.yaml" for name in BUILTIN_CATALOGS} <= files


@pytest.mark.parametrize("name", BUILTIN_CATALOGS)
def test_every_price_has_source_and_date(name: str) -> None:
    catalog = load_catalog(name)
    assert catalog.origin == name
    for key, entry in catalog.models.items():
        assert entry.source.strip(), key
        # seed-era prices, or a compute figure dated when it was measured here
        assert entry.date.startswith("2025") or entry.compute is not None, key
        assert len(entry.units) == 1, key


def test_default_catalog_is_current() -> None:
    assert load_catalog(None) == load_catalog("current")


def test_seed_catalog_holds_the_fixture_prices() -> None:
    prices = seed_fixture()["prices"]
    cat = load_catalog("seed-2025-05")
    lk = cat.price("livekit/scale").plan
    assert lk is not None
    assert (lk.base_usd, lk.included_minutes, lk.overage_per_min) == (
        D(str(prices["livekit_scale"]["base_usd"])),
        D(str(prices["livekit_scale"]["included_minutes"])),
        D(str(prices["livekit_scale"]["overage_per_min"])),
    )
    assert cat.price("deepgram/nova-2").per_minute == D(str(prices["deepgram_nova2_stt_per_min"]))
    tokens = cat.price("openai/gpt-4.1-mini").per_million_tokens
    assert tokens is not None
    for field in ("cached_input", "input", "output"):
        assert getattr(tokens, field) == D(str(prices["gpt41_mini_per_million"][field]))
    el = cat.price("elevenlabs/business").plan
    assert el is not None
    assert el.base_usd == D("1320") and el.included_minutes == D("22000")
    assert el.overage_per_min == D(str(prices["elevenlabs_business"]["overage_per_min"]))
    assert cat.price("cartesia/sonic").per_minute == D(str(prices["cartesia_scale_per_min"]))
    for provider in ("twilio", "telnyx"):
        sip = cat.price(f"{provider}/sip").sip_per_minute
        assert sip is not None
        published = prices[f"{provider}_sip_per_min"]
        assert sip.termination == D(str(published["termination"]))
        assert sip.origination == D(str(published["origination"]))


@pytest.mark.parametrize("name", BUILTIN_CATALOGS)
def test_stacks_are_named_as_the_fixture_names_them(name: str) -> None:
    published = seed_fixture()["published"]
    catalog = load_catalog(name)
    for stack in ("economy", "premium"):
        assert catalog.stack(stack).label == published[stack]["stack"]


def test_current_covers_every_supported_model() -> None:
    catalog = load_catalog("current")
    for model_id in (
        "deepgram/nova-2",
        "deepgram/nova-3",
        "openai/gpt-4.1-mini",
        "openai/gpt-4.1-nano",
        "openai/gpt-4o-mini",
        "cartesia/sonic",
        "cartesia/sonic-2",
        "cartesia/sonic-turbo",
        "elevenlabs/business",
        "livekit/agent-session",
        "twilio/sip",
        "telnyx/sip",
    ):
        assert catalog.price(model_id).source
    # the local STT and TTS cost their measured CPU; an LLM endpoint's compute is not measured
    assert catalog.price("local/faster-whisper").compute is not None
    assert catalog.price("local/hibari-tts").compute is not None
    assert catalog.price("local/qwen2.5:7b").free
    assert "local" in catalog.stacks


def test_reused_seed_figures_say_so() -> None:
    """Where no current price could be sourced, the note must admit the seed figure is reused."""
    catalog = load_catalog("current")
    for key in ("deepgram/nova-3", "cartesia/sonic-2", "cartesia/sonic-turbo"):
        note = catalog.price(key).note or ""
        assert "seed" in note and ("reused" in note or "placeholder" in note), key


def test_unknown_model_names_the_catalog() -> None:
    with pytest.raises(CatalogError, match=r"current: models: no price for 'acme/x'"):
        load_catalog("current").price("acme/x")


def test_unknown_stack_lists_the_known_ones() -> None:
    with pytest.raises(CatalogError, match=r"no stack named 'gold'.*economy, local, premium"):
        load_catalog("current").stack("gold")


# --- User files -------------------------------------------------------------------------------

USER_FILE = """\
extends: current
catalog: acme
date: 2025-06-01
source: our negotiated contract
models:
  deepgram/nova-3: {kind: stt, per_minute: 0.0065, source: contract, date: "2025-06"}
  elevenlabs/flash-chars: {kind: tts, per_character: 0.00005, source: contract, date: "2025-06"}
stacks:
  thrifty:
    label: nova-3 + nano + Sonic 2 over Telnyx
    livekit: livekit/agent-session
    stt: deepgram/nova-3
    llm: openai/gpt-4.1-nano
    tts: cartesia/sonic-2
    telephony: telnyx/sip
"""


def test_user_file_extends_current_and_adds_a_stack(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, USER_FILE))
    assert catalog.catalog == "acme"
    assert catalog.date == "2025-06-01"  # unquoted YAML date accepted
    assert catalog.origin == str(tmp_path / "prices.yaml")
    assert catalog.price("deepgram/nova-3").per_minute == D("0.0065")  # overridden
    assert catalog.price("deepgram/nova-2").per_minute == D("0.0047")  # inherited
    assert set(catalog.stacks) == {"economy", "premium", "local", "thrifty"}
    assert catalog.stack("thrifty").stt == "deepgram/nova-3"


def test_user_file_without_extends_stands_alone(tmp_path: Path) -> None:
    text = """\
catalog: tiny
date: "2025-06"
source: test
models:
  livekit/self: {free: true, source: own servers, date: "2025-06"}
  local/*: {free: true, source: own machines, date: "2025-06"}
stacks:
  home: {livekit: livekit/self, stt: local/whisper, llm: local/llm, tts: local/tts}
"""
    catalog = load_catalog(write(tmp_path, text))
    assert list(catalog.stacks) == ["home"]
    assert catalog.stack("home").telephony is None


def test_relative_extends_is_resolved_beside_the_file(tmp_path: Path) -> None:
    write(tmp_path, USER_FILE, "base.yaml")
    child = write(tmp_path, "extends: base.yaml\ncatalog: child\n", "child.yaml")
    assert "thrifty" in load_catalog(child).stacks


def test_circular_extends(tmp_path: Path) -> None:
    a = write(tmp_path, "extends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    with pytest.raises(CatalogError, match="extends: circular"):
        load_catalog(a)


@pytest.mark.parametrize(
    ("models_yaml", "expected"),
    [
        (
            "deepgram/nova-2: {kind: stt, per_minute: -1, source: x, date: '2025-06'}",
            r"models\[deepgram/nova-2\]\.per_minute: Input should be greater than or equal to 0",
        ),
        (
            "openai/gpt-4.1-mini: {kind: llm, per_million_tokens: {input: 1, output: 2}, "
            "source: x, date: '2025-06'}",
            r"models\[openai/gpt-4.1-mini\]\.per_million_tokens\.cached_input: Field required",
        ),
        (
            "deepgram/nova-2: {kind: stt, per_minut: 0.1, source: x, date: '2025-06'}",
            r"models\[deepgram/nova-2\]\.per_minut: Extra inputs are not permitted",
        ),
        (
            "deepgram/nova-2: {kind: stt, per_minute: 0.1, source: x, date: 'May 2025'}",
            r"models\[deepgram/nova-2\]\.date: must be YYYY-MM or YYYY-MM-DD",
        ),
        (
            "deepgram/nova-2: {kind: stt, per_minute: 0.1, source: '', date: '2025-06'}",
            r"models\[deepgram/nova-2\]\.source: String should have at least 1 character",
        ),
        (
            "cartesia/sonic: {kind: tts, per_minute: 0.1, per_character: 0.001, source: x, "
            "date: '2025-06'}",
            r"models\[cartesia/sonic\]: give exactly one billing unit .* "
            r"\(found: per_minute, per_character\)",
        ),
        (
            "openai/gpt-4.1-mini: {kind: llm, per_minute: 0.1, source: x, date: '2025-06'}",
            r"models\[openai/gpt-4.1-mini\]\.per_minute: not a billing unit for llm",
        ),
        (
            "NoSlash: {per_minute: 0.1, source: x, date: '2025-06'}",
            r"models\[NoSlash\]: key must look like provider/model",
        ),
    ],
)
def test_broken_entry_names_file_field_and_problem(
    tmp_path: Path, models_yaml: str, expected: str
) -> None:
    path = write(tmp_path, f"extends: current\nmodels:\n  {models_yaml}\n")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert str(path) in str(info.value)
    assert any(re.search(expected, p) for p in info.value.problems), info.value.problems


@pytest.mark.parametrize(
    ("stack_yaml", "expected"),
    [
        (
            "{livekit: livekit/agent-session, stt: deepgram/nova-9, llm: openai/gpt-4.1-mini, "
            "tts: cartesia/sonic}",
            r"stacks\[bad\]\.stt: 'deepgram/nova-9' is not priced in models",
        ),
        (
            "{livekit: livekit/agent-session, stt: cartesia/sonic, llm: openai/gpt-4.1-mini, "
            "tts: cartesia/sonic}",
            r"stacks\[bad\]\.stt: 'cartesia/sonic' is priced as tts, not stt",
        ),
        (
            "{livekit: livekit/agent-session, llm: openai/gpt-4.1-mini, tts: cartesia/sonic}",
            r"stacks\[bad\]\.stt: Field required",
        ),
        (
            "{livekit: livekit/agent-session, stt: deepgram/nova-2, llm: openai/gpt-4.1-mini, "
            "tts: twilio/sip}",
            r"stacks\[bad\]\.tts: 'twilio/sip' is priced as telephony, not tts",
        ),
    ],
)
def test_broken_stack_names_the_field(tmp_path: Path, stack_yaml: str, expected: str) -> None:
    path = write(tmp_path, f"extends: current\nstacks:\n  bad: {stack_yaml}\n")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert any(re.search(expected, p) for p in info.value.problems), info.value.problems


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog: x\nsource: y\nmodels:\n"
        "  a/b: {per_minute: -1, source: x, date: '2025-06'}\n"
        "  a/c: {per_minute: 1, source: x}\n",
    )
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    text = str(info.value)
    assert "date: Field required" in text  # the catalog's own date
    assert "models[a/b].per_minute" in text
    assert "models[a/c].date: Field required" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models: [\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("extends: 3\n", "extends: must be a catalog name or a path"),
    ],
)
def test_unreadable_files(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(CatalogError, match=expected):
        load_catalog(write(tmp_path, text))


def test_missing_file_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="price file not found"):
        load_catalog(tmp_path / "nope.yaml")
    with pytest.raises(CatalogError, match=r"no such price catalog.*current, seed-2025-05"):
        load_catalog("seed-2024")


# --- price_call -------------------------------------------------------------------------------

SEED = load_catalog("seed-2025-05")
# The seed's average call, measured: 3 min, half caller, half agent, the article's tokens.
SEED_CALL = CallUsage(
    duration_s=180,
    stt_audio_s=90,
    tts_audio_s=90,
    tts_characters=1400,
    llm={"openai/gpt-4.1-mini": TokenUsage(input=12_975, cached_input=12_000, output=210)},
)


def test_price_call_economy_outbound_by_hand() -> None:
    cost = price_call(SEED_CALL, SEED, "economy", channel="outbound")
    assert cost.livekit == pytest.approx(0.009)  # 3 min x $0.003 overage
    assert cost.stt == pytest.approx(0.00705)  # 1.5 min x $0.0047
    assert cost.llm == pytest.approx(0.001926)  # 12,000 cached + 975 input + 210 output
    assert cost.tts == pytest.approx(0.04485)  # 1.5 min x $0.0299
    assert cost.telephony == pytest.approx(0.0033)  # 3 min x $0.0011 termination only
    assert cost.total == 0.066126
    assert cost.llm_by_model == {"openai/gpt-4.1-mini": 0.001926}
    assert cost.components() == {
        "livekit": cost.livekit,
        "stt": cost.stt,
        "llm": cost.llm,
        "tts": cost.tts,
        "telephony": cost.telephony,
    }


def test_price_call_premium_inbound_by_hand() -> None:
    cost = price_call(SEED_CALL, SEED, "premium", channel="inbound")
    assert cost.tts == pytest.approx(0.09)  # ElevenLabs plan at its $0.06 overage rate
    assert cost.telephony == pytest.approx(0.0105)  # 3 min x $0.0035 Telnyx origination
    assert cost.total == pytest.approx(0.009 + 0.00705 + 0.001926 + 0.09 + 0.0105)


def test_web_call_has_no_telephony() -> None:
    cost = price_call(SEED_CALL, SEED, "economy", channel="web")
    assert cost.telephony == 0.0
    assert cost.total == pytest.approx(0.066126 - 0.0033)


def test_cached_tts_is_not_billed() -> None:
    cached = CallUsage(
        duration_s=180,
        stt_audio_s=90,
        tts_audio_s=90,
        llm=SEED_CALL.llm,
        cached_tts_audio_s=12.5,
    )
    assert price_call(cached, SEED, "economy", channel="web") == price_call(
        SEED_CALL, SEED, "economy", channel="web"
    )


def test_per_character_tts_and_several_llms(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, USER_FILE))
    stack = catalog.stack("thrifty").model_copy(update={"tts": "elevenlabs/flash-chars"})
    usage = CallUsage(
        duration_s=60,
        stt_audio_s=30,
        tts_audio_s=30,
        tts_characters=1000,
        llm={
            "openai/gpt-4.1-nano": TokenUsage(input=10_000, cached_input=8_000, output=500),
            "openai/gpt-4.1-mini": TokenUsage(input=1_000, output=100),  # a fallback turn
        },
    )
    cost = price_call(usage, catalog, stack, channel="outbound")
    assert cost.tts == pytest.approx(0.05)  # 1,000 chars x $0.00005
    assert cost.stt == pytest.approx(0.00325)  # 0.5 min x $0.0065
    # nano: 8,000 x 0.025 + 2,000 x 0.10 + 500 x 0.40 per million = 0.0006
    # mini: 1,000 x 0.40 + 100 x 1.60 per million = 0.00056
    assert cost.llm_by_model == {"openai/gpt-4.1-nano": 0.0006, "openai/gpt-4.1-mini": 0.00056}
    assert cost.llm == pytest.approx(0.00116)
    assert cost.telephony == pytest.approx(0.005)  # 1 min x $0.0050 Telnyx termination


def test_local_stack_call_costs_its_cpu_not_its_tokens() -> None:
    usage = CallUsage(
        duration_s=60,
        stt_audio_s=20,
        tts_audio_s=30,
        llm={"local/llm": TokenUsage(input=5000, output=100)},
    )
    catalog = load_catalog("current")
    cost = price_call(usage, catalog, "local", channel="web")
    assert cost.telephony == 0.0 and cost.llm == 0.0
    assert catalog.vcpu_hour is not None
    for component in ("livekit", "stt", "tts"):
        entry = catalog.price(getattr(catalog.stack("local"), component))
        assert entry.compute is not None
        # one call-minute of CPU, whatever the audio heard or said
        expected = entry.compute.cpu_s_per_call_minute * catalog.vcpu_hour.usd / 3600
        assert getattr(cost, component) == pytest.approx(float(expected), abs=1e-6)
    assert cost.total > 0


def test_compute_needs_a_vcpu_price(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
catalog: mine
date: "2026-12"
source: me
models:
  local/x:
    kind: stt
    compute: {cpu_s_per_call_minute: 1, measured: here}
    source: me
    date: "2026-12"
""",
    )
    with pytest.raises(
        CatalogError, match=r"models\[local/x\]\.compute: needs the catalog's vcpu_hour"
    ):
        load_catalog(path)


def test_billing_basis_belongs_to_its_component(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
catalog: mine
date: "2026-12"
source: me
models:
  acme/tts:
    kind: tts
    per_minute: 0.01
    billed_on: streamed
    source: me
    date: "2026-12"
  acme/stt:
    kind: stt
    per_minute: 0.01
    cache_min_tokens: 10
    source: me
    date: "2026-12"
""",
    )
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert any("acme/tts].billed_on: only an STT" in p for p in err.value.problems)
    assert any("acme/stt].cache_min_tokens: only an LLM" in p for p in err.value.problems)


def test_catalogs_state_the_billing_basis() -> None:
    current, seed = load_catalog("current"), load_catalog("seed-2025-05")
    assert current.price("deepgram/nova-2").billed_on == "streamed"  # as Deepgram bills
    assert seed.price("deepgram/nova-2").billed_on == "speech"  # as the article modelled it
    assert current.price("openai/gpt-4.1-mini").cache_min_tokens == 1024


def test_price_call_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="channel"):
        price_call(SEED_CALL, SEED, "economy", channel="sip")
    with pytest.raises(ValueError, match="duration_s"):
        CallUsage(duration_s=-1)
    with pytest.raises(ValueError, match="cached_input"):
        TokenUsage(input=10, cached_input=11)
    with pytest.raises(CatalogError, match="no price for 'acme/llm'"):
        price_call(
            CallUsage(duration_s=1, llm={"acme/llm": TokenUsage(input=1)}),
            SEED,
            "economy",
            channel="web",
        )

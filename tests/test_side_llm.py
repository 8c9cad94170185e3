"""Side LLMs' settings and the pricing of their tokens with our catalog."""

from __future__ import annotations

from typing import Any

import pytest

from callcrew.metrics.pricing import load_catalog
from callcrew.metrics.side_llm import SideUsage, add_side_usage, side_problems
from callcrew.settings import SettingsError, load_settings

pytestmark = pytest.mark.unit


def test_tokens_are_priced_at_the_catalogs_rates() -> None:
    usage = SideUsage("judge", "gpt-4.1-mini", 5, 3000, 1000, 100)
    row = usage.priced(load_catalog())
    # 2000 x $0.40 + 1000 x $0.10 + 100 x $1.60 per million tokens
    assert row["usd"] == pytest.approx((2000 * 0.40 + 1000 * 0.10 + 100 * 1.60) / 1e6)
    assert SideUsage("judge", "openai/gpt-4.1-mini", 1, 10, 0, 1).priced(load_catalog())["usd"]


def test_a_model_the_catalog_does_not_know_is_left_unpriced() -> None:
    row = SideUsage("caller", "llama-3-8b", 1, 500, 0, 20).priced(load_catalog())
    assert row["usd"] is None and row["input_tokens"] == 500


def test_the_evaluation_block_sums_what_is_priced() -> None:
    report: dict[str, Any] = {}
    settings = load_settings()
    add_side_usage(report, SideUsage("caller", "gpt-4.1-mini", 3, 1000, 0, 30), settings)
    add_side_usage(report, SideUsage("judge", "nobody-knows", 5, 3000, 0, 100), settings)
    block = report["evaluation"]
    assert [r["role"] for r in block["usage"]] == ["caller", "judge"]
    assert block["usd"] == block["usage"][0]["usd"] and block["priced"] is False


def test_each_side_needs_an_endpoint_or_a_key() -> None:
    assert side_problems(load_settings(), "judge") == [
        "JUDGE_LLM_BASE_URL (an OpenAI-compatible endpoint) or JUDGE_LLM_API_KEY / "
        "OPENAI_API_KEY is needed for the judge LLM"
    ]
    assert side_problems(load_settings(openai_api_key="k"), "caller") == []
    assert (
        side_problems(load_settings(analysis_llm_base_url="http://127.0.0.1:9/v1"), "analysis")
        == []
    )
    assert load_settings(caller_llm_base_url="").caller_llm_base_url is None
    with pytest.raises(SettingsError, match="CALLER_LLM_BASE_URL: must start with http"):
        load_settings(caller_llm_base_url="ftp://x")

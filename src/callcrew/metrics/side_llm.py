"""Side LLMs: the models that are not the crew's (the LLM-played caller, the judges, post-call
analysis), each with its own model, endpoint and key, its tokens counted and priced.

They talk to any OpenAI-compatible endpoint through LiveKit's OpenAI plugin, so usage comes
from the same `LLMMetrics` the crew's model reports, and a local test stub sees real requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from livekit.agents import APIConnectOptions, llm
from livekit.agents.metrics import LLMMetrics

from callcrew.metrics.pricing import Catalog, CatalogError, llm_cost, load_catalog
from callcrew.settings import Settings, SettingsError

Role = Literal["caller", "judge", "analysis"]
_ENV = {"caller": "CALLER_LLM", "judge": "JUDGE_LLM", "analysis": "ANALYSIS_LLM"}


@dataclass
class SideUsage:
    """Tokens one side LLM used (`input` includes the cached share, as LiveKit reports it)."""

    role: str
    model: str
    requests: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0

    def add(self, m: LLMMetrics) -> None:
        self.requests += 1
        self.input_tokens += m.prompt_tokens
        self.cached_input_tokens += m.prompt_cached_tokens
        self.output_tokens += m.completion_tokens

    def priced(self, catalog: Catalog | None) -> dict[str, Any]:
        """This usage as a report row; `usd` is None when the catalog has no price for it."""
        row: dict[str, Any] = {
            "role": self.role,
            "model": self.model,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
            "usd": None,
        }
        if catalog is None:
            return row
        model_id = self.model if "/" in self.model else f"openai/{self.model}"
        try:
            entry = catalog.price(model_id)
            usd = llm_cost(
                entry,
                cached_input=self.cached_input_tokens,
                input=self.input_tokens - self.cached_input_tokens,
                output=self.output_tokens,
            )
        except CatalogError:
            return row
        row["usd"] = round(float(usd), 6)
        return row


@dataclass
class Reply:
    text: str
    tool_calls: list[llm.FunctionToolCall] = field(default_factory=list)


def side_problems(settings: Settings, role: Role) -> list[str]:
    """Why this side LLM cannot be reached, in words (empty when it can)."""
    if _base_url(settings, role) or _api_key(settings, role):
        return []
    env = _ENV[role]
    return [
        f"{env}_BASE_URL (an OpenAI-compatible endpoint) or {env}_API_KEY / OPENAI_API_KEY "
        f"is needed for the {role} LLM"
    ]


def _base_url(settings: Settings, role: Role) -> str | None:
    value: str | None = getattr(settings, f"{role}_llm_base_url")
    return value


def _api_key(settings: Settings, role: Role) -> str | None:
    own = getattr(settings, f"{role}_llm_api_key")
    for secret in (own, settings.openai_api_key):
        if secret is not None and secret.get_secret_value():
            return str(secret.get_secret_value())
    return None


class SideLLM:
    """One side LLM for one run; `usage` accumulates over every request it makes."""

    def __init__(
        self,
        settings: Settings,
        role: Role,
        *,
        timeout_s: float = 60.0,
        max_output_tokens: int | None = None,
    ) -> None:
        if problems := side_problems(settings, role):
            raise SettingsError(problems)
        from livekit.plugins import openai

        model: str = getattr(settings, f"{role}_llm_model")
        kwargs: dict[str, Any] = {"model": model, "api_key": _api_key(settings, role) or "none"}
        if base_url := _base_url(settings, role):
            kwargs["base_url"] = base_url
        if max_output_tokens is not None:
            kwargs["max_completion_tokens"] = max_output_tokens
        self.role = role
        self.llm = openai.LLM(**kwargs)
        self.usage = SideUsage(role, model)
        self._conn = APIConnectOptions(max_retry=1, timeout=timeout_s)
        self.llm.on("metrics_collected", self._count)

    def _count(self, m: Any) -> None:
        if isinstance(m, LLMMetrics):
            self.usage.add(m)

    async def ask(
        self,
        chat_ctx: llm.ChatContext,
        *,
        tools: list[llm.Tool] | None = None,
        tool_choice: llm.ToolChoice | None = None,
    ) -> Reply:
        from livekit.agents import NOT_GIVEN

        stream = self.llm.chat(
            chat_ctx=chat_ctx,
            tools=tools or [],
            conn_options=self._conn,
            tool_choice=tool_choice if tool_choice is not None else NOT_GIVEN,
            extra_kwargs={"temperature": 0.0} if self.role != "caller" else {},
        )
        async with stream:
            collected = await stream.collect()
        return Reply(collected.text.strip(), list(collected.tool_calls))

    async def aclose(self) -> None:
        await self.llm.aclose()


def add_side_usage(report: dict[str, Any], usage: SideUsage, settings: Settings) -> None:
    """Price a side LLM's usage into the report's `evaluation` block (kept apart from `cost`,
    which is what the call itself costs in production)."""
    try:
        catalog: Catalog | None = load_catalog(settings.prices_file)
    except CatalogError:
        catalog = None
    block = report.setdefault("evaluation", {"usage": [], "usd": 0.0})
    block["usage"] = [r for r in block.get("usage", []) if r["role"] != usage.role]
    block["usage"].append(usage.priced(catalog))
    known = [r["usd"] for r in block["usage"] if r["usd"] is not None]
    block["usd"] = round(sum(known), 6)
    block["priced"] = len(known) == len(block["usage"])

"""The price catalog: what each provider charges and how it bills, as data (pricing one measured
call from it: `call_pricing.py`).

Prices live in YAML files (`callcrew/data/prices/*.yaml`, or the user's own), never in code, each
with the source and date it came from, so a stale price is visible and fixable without a release.
Amounts are `Decimal` end to end: the planner must reproduce published monthly figures to the cent,
and binary floats drift on sums like 33,000 x 0.0299.

A catalog file holds `models` (keyed "provider/model"; "provider/*" prices every model of that
provider not listed by name) and `stacks` (which model fills each of the five components). A file
may start with `extends: NAME_OR_PATH` and then list only the models and stacks it adds or changes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from callcrew import yamlio

BUILTIN_CATALOGS = ("current", "seed-2025-05")
DEFAULT_CATALOG = "current"

Component = Literal["livekit", "stt", "llm", "tts", "telephony"]
COMPONENTS: tuple[Component, ...] = ("livekit", "stt", "llm", "tts", "telephony")

Unit = Literal[
    "per_minute", "per_character", "per_million_tokens", "plan", "sip_per_minute", "compute", "free"
]
UNITS: tuple[Unit, ...] = (
    "per_minute",
    "per_character",
    "per_million_tokens",
    "plan",
    "sip_per_minute",
    "compute",
    "free",
)

# Which billing units make sense for each component; anything else is a mistake in the file.
UNITS_FOR: dict[Component, frozenset[Unit]] = {
    "livekit": frozenset({"per_minute", "plan", "compute", "free"}),
    "stt": frozenset({"per_minute", "plan", "compute", "free"}),
    "llm": frozenset({"per_million_tokens", "compute", "free"}),
    "tts": frozenset({"per_minute", "per_character", "plan", "compute", "free"}),
    "telephony": frozenset({"sip_per_minute", "per_minute", "free"}),
}

Channel = Literal["inbound", "outbound", "web"]

_MODEL_KEY = re.compile(r"^[a-z0-9_-]+/([A-Za-z0-9._:-]+|\*)$")
_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")

Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]


class CatalogError(Exception):
    """A price catalog cannot be used; each problem names the file, the field and what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenRates(_Strict):
    """USD per million tokens."""

    input: Money
    cached_input: Money
    output: Money


class PlanRate(_Strict):
    """A monthly plan: the base buys `included_minutes`; every minute beyond costs the overage."""

    base_usd: Money
    included_minutes: Money
    overage_per_min: Money


class SipRates(_Strict):
    """USD per minute for each call leg: termination = outbound, origination = inbound."""

    termination: Money
    origination: Money


class ComputeRate(_Strict):
    """Something you run yourself, priced by the CPU it burns: `cpu_s_per_call_minute` CPU-seconds
    for every minute of call, at the catalog's `vcpu_hour_usd`. `measured` says where the figure
    comes from (benchmark, machine, date) so it can be re-measured."""

    cpu_s_per_call_minute: Money
    measured: str = Field(min_length=1)


class VcpuPrice(_Strict):
    """What one vCPU-hour costs you (a cloud VM's hourly price / its vCPUs, or your own)."""

    usd: Money
    source: str = Field(min_length=1)
    date: str


SttBilling = Literal["streamed", "speech"]


class PriceEntry(_Strict):
    """One priced model or service, with exactly one billing unit.

    Billing basis, where the unit alone does not say it: `billed_on` for an STT (does the
    provider bill all the audio streamed to it, or only detected speech?) and
    `cache_min_tokens` for an LLM (the shortest prompt whose prefix the provider caches).
    """

    kind: Component | None = None
    per_minute: Money | None = None
    per_character: Money | None = None
    per_million_tokens: TokenRates | None = None
    plan: PlanRate | None = None
    sip_per_minute: SipRates | None = None
    compute: ComputeRate | None = None
    free: Literal[True] | None = None
    billed_on: SttBilling | None = None
    cache_min_tokens: int | None = Field(None, ge=0)
    source: str = Field(min_length=1)
    date: str
    note: str | None = None

    @field_validator("date", mode="before")
    @classmethod
    def _date_text(cls, v: Any) -> Any:
        # YAML reads an unquoted 2025-05-20 as a date object; accept it as the user meant it.
        return v.isoformat() if isinstance(v, dt.date) else v

    @field_validator("date")
    @classmethod
    def _date_format(cls, v: str) -> str:
        if not _DATE.match(v):
            raise ValueError("must be YYYY-MM or YYYY-MM-DD")
        return v

    @property
    def units(self) -> list[Unit]:
        return [u for u in UNITS if getattr(self, u) is not None]

    @property
    def unit(self) -> Unit:
        return self.units[0]


class Stack(_Strict):
    """Which catalog model fills each component; telephony is None for web-only stacks."""

    label: str = ""
    livekit: str
    stt: str
    llm: str
    tts: str
    telephony: str | None = None

    def model_for(self, component: Component) -> str | None:
        value: str | None = getattr(self, component)
        return value


class Catalog(_Strict):
    catalog: str = Field(min_length=1)
    currency: Literal["USD"] = "USD"
    date: str
    source: str = Field(min_length=1)
    extends: str | None = None
    vcpu_hour: VcpuPrice | None = None
    models: dict[str, PriceEntry]
    stacks: dict[str, Stack] = Field(default_factory=dict)

    _origin: str = PrivateAttr(default="")

    @field_validator("date", mode="before")
    @classmethod
    def _date_text(cls, v: Any) -> Any:
        return v.isoformat() if isinstance(v, dt.date) else v

    @property
    def origin(self) -> str:
        """The built-in name or the file path this catalog was loaded from."""
        return self._origin or self.catalog

    def price(self, model_id: str) -> PriceEntry:
        """The entry for `model_id`, falling back to its provider's "provider/*" entry."""
        if model_id in self.models:
            return self.models[model_id]
        wildcard = model_id.split("/", 1)[0] + "/*"
        if "/" in model_id and wildcard in self.models:
            return self.models[wildcard]
        raise CatalogError([f"{self.origin}: models: no price for {model_id!r}"])

    def compute_per_minute(self, entry: PriceEntry) -> Decimal:
        """USD per call-minute of a `compute` entry at this catalog's vCPU-hour price."""
        if entry.compute is None or self.vcpu_hour is None:
            return Decimal(0)
        return entry.compute.cpu_s_per_call_minute * self.vcpu_hour.usd / Decimal(3600)

    def stack(self, name: str) -> Stack:
        if name not in self.stacks:
            known = ", ".join(sorted(self.stacks)) or "none"
            raise CatalogError(
                [f"{self.origin}: stacks: no stack named {name!r} (this catalog has: {known})"]
            )
        return self.stacks[name]


# --- Loading --------------------------------------------------------------------------------


def load_catalog(name_or_path: str | Path | None = None) -> Catalog:
    """Load a built-in catalog by name ("current", "seed-2025-05"; None means "current") or a
    YAML file by path. Raises CatalogError listing every problem found."""
    ref = str(name_or_path) if name_or_path else DEFAULT_CATALOG
    catalog, _ = _load(ref, Path.cwd(), ())
    return catalog


def _load(ref: str, base_dir: Path, chain: tuple[str, ...]) -> tuple[Catalog, dict[str, Any]]:
    origin, text, here = _read(ref, base_dir)
    if origin in chain:
        raise CatalogError([f"{origin}: extends: circular ({' -> '.join((*chain, origin))})"])
    try:
        raw = yamlio.load(text)
    except yamlio.YamlFileError as exc:
        raise CatalogError([f"{origin}: {exc.reason}"]) from None
    if not isinstance(raw, dict):
        raise CatalogError([f"{origin}: expected a mapping with 'models' and 'stacks'"])

    parent = raw.get("extends")
    if parent is not None:
        if not isinstance(parent, str):
            raise CatalogError([f"{origin}: extends: must be a catalog name or a path"])
        _, base_raw = _load(parent, here, (*chain, origin))
        raw = _merge(base_raw, raw)

    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError([_describe(origin, e) for e in exc.errors()]) from None
    catalog._origin = origin
    if problems := _check(catalog, origin):
        raise CatalogError(problems)
    return catalog, raw


def _read(ref: str, base_dir: Path) -> tuple[str, str, Path]:
    """(name shown in errors, file text, folder that relative `extends` paths start from)."""
    if ref in BUILTIN_CATALOGS:
        text = resources.files("callcrew.data.prices").joinpath(f"{ref}.yaml").read_text("utf-8")
        return ref, text, base_dir
    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        if "/" not in ref and not ref.endswith((".yaml", ".yml")):
            known = ", ".join(BUILTIN_CATALOGS)
            raise CatalogError(
                [f"{ref}: no such price catalog (built-in: {known}; or give a path to a YAML file)"]
            )
        raise CatalogError([f"{path}: price file not found"])
    try:
        return str(path), yamlio.read_text(path), path.parent
    except FileNotFoundError:
        raise CatalogError([f"{path}: price file not found"]) from None
    except yamlio.YamlFileError as exc:
        raise CatalogError([f"{path}: {exc.reason}"]) from None


def _merge(base: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    merged = {k: v for k, v in base.items() if k != "extends"}
    for key, value in child.items():
        if key in ("models", "stacks") and isinstance(value, dict):
            merged[key] = {**(base.get(key) or {}), **value}
        else:
            merged[key] = value
    return merged


def _check(catalog: Catalog, origin: str) -> list[str]:
    """What pydantic cannot see alone: one unit per entry, keys, and stacks that resolve."""
    problems: list[str] = []
    for key, entry in catalog.models.items():
        where = f"{origin}: models[{key}]"
        if not _MODEL_KEY.match(key):
            problems.append(f"{where}: key must look like provider/model or provider/*")
        units = entry.units
        if len(units) != 1:
            found = ", ".join(units) or "none"
            problems.append(
                f"{where}: give exactly one billing unit of {', '.join(UNITS)} (found: {found})"
            )
        elif entry.kind is not None and units[0] not in UNITS_FOR[entry.kind]:
            problems.append(f"{where}.{units[0]}: not a billing unit for {entry.kind}")
        if entry.billed_on is not None and entry.kind not in (None, "stt"):
            problems.append(f"{where}.billed_on: only an STT is billed on streamed or speech audio")
        if entry.cache_min_tokens is not None and entry.kind not in (None, "llm"):
            problems.append(f"{where}.cache_min_tokens: only an LLM caches prompts")
        if entry.compute is not None and catalog.vcpu_hour is None:
            problems.append(f"{where}.compute: needs the catalog's vcpu_hour price")
    if problems:
        return problems
    for name, stack in catalog.stacks.items():
        for component in COMPONENTS:
            model_id = stack.model_for(component)
            if model_id is None:
                if component != "telephony":
                    problems.append(f"{origin}: stacks[{name}].{component}: required")
                continue
            where = f"{origin}: stacks[{name}].{component}"
            try:
                entry = catalog.price(model_id)
            except CatalogError:
                problems.append(f"{where}: {model_id!r} is not priced in models")
                continue
            if entry.kind is not None and entry.kind != component:
                problems.append(f"{where}: {model_id!r} is priced as {entry.kind}, not {component}")
            elif entry.unit not in UNITS_FOR[component]:
                problems.append(f"{where}: {model_id!r} is billed {entry.unit}, unusable here")
    return problems


def _describe(origin: str, err: Mapping[str, Any]) -> str:
    parts: list[str] = []
    loc = list(err.get("loc", ()))
    for i, part in enumerate(loc):
        if i == 1 and loc[0] in ("models", "stacks"):
            parts[-1] += f"[{part}]"  # keys like "openai/gpt-4.1-mini" contain dots
        else:
            parts.append(str(part))
    where = ".".join(parts) or "(top level)"
    msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
    raw = err.get("input")
    shown = (
        f" (got {raw!r})" if isinstance(raw, str | int | float) and err["type"] != "missing" else ""
    )
    return f"{origin}: {where}: {msg}{shown}"


# Pricing one measured call lives in call_pricing.py; its names stay importable from here.
from callcrew.metrics.call_pricing import (  # noqa: E402
    CallCost,
    CallUsage,
    TokenUsage,
    llm_cost,
    price_call,
)

__all__ = [
    "BUILTIN_CATALOGS",
    "COMPONENTS",
    "CallCost",
    "CallUsage",
    "Catalog",
    "CatalogError",
    "Component",
    "PriceEntry",
    "Stack",
    "TokenUsage",
    "llm_cost",
    "load_catalog",
    "price_call",
]

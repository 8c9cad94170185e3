"""The restaurant's profile section (`restaurant:`) and the order a call builds."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from callcrew.call import CallState, CrewOutcome

ORDER_PLACED = CrewOutcome("order_placed", "the caller placed a pick-up order")


class MenuItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1)
    price: Decimal = Field(gt=0, decimal_places=2)


class RestaurantSection(BaseModel):
    """`restaurant:` in the business profile: what the caller can order."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    menu: list[MenuItem] = Field(min_length=1)
    pickup_minutes: int = Field(20, ge=5, le=120)

    def item(self, wanted: str) -> MenuItem | None:
        key = wanted.strip().casefold()
        return next((i for i in self.menu if key in (i.id, i.name.casefold())), None)


@dataclass
class OrderData(CallState):
    section: RestaurantSection | None = None
    lines: dict[str, int] = field(default_factory=dict)  # menu id -> quantity
    pickup_name: str | None = None
    crew_outcomes: tuple[CrewOutcome, ...] = (ORDER_PLACED,)

    def total(self) -> Decimal:
        assert self.section is not None
        prices = {i.id: i.price for i in self.section.menu}
        return sum((prices[k] * n for k, n in self.lines.items()), Decimal(0))

    def report_extras(self) -> dict[str, Any]:
        return {"order": dict(self.lines), "total": str(self.total()), "name": self.pickup_name}

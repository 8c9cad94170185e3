"""The scenario models of one crew: the engine's, with the crew's `data:` and `expect:` mixed in."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, create_model

from callcrew.simulate.crewkit import Rehearsal
from callcrew.simulate.expectations import Expectations, TurnExpect
from callcrew.simulate.scenario import CallsScenario, Scenario, Turn


def _mixed(name: str, engine: type[BaseModel], crew: type[BaseModel] | None) -> Any:
    return engine if crew is None else type(name, (engine, crew), {"__module__": __name__})


# One set of models per crew kit (the kit is kept so its id stays its own).
_MODELS: dict[int, tuple[Rehearsal, type[Scenario], type[CallsScenario]]] = {}


def scenario_models(kit: Rehearsal) -> tuple[type[Scenario], type[CallsScenario]]:
    """The scenario models with the crew's `data:` and `expect:` keys mixed in."""
    if id(kit) in _MODELS:
        _, one_model, calls_model = _MODELS[id(kit)]
        return one_model, calls_model
    turn_expect = _mixed("TurnExpect", TurnExpect, kit.turn_expect)
    expect = _mixed("Expectations", Expectations, kit.call_expect)
    data: Any = (
        (kit.data, Field(default_factory=kit.data))
        if kit.data
        else (Any, Field(default_factory=dict))
    )
    turn: Any = create_model("Turn", __base__=Turn, expect=(turn_expect | None, None))
    turns: Any = (list[turn], Field(default_factory=list))
    one: Any = create_model(
        "Scenario",
        __base__=Scenario,
        data=data,
        turns=turns,
        expect=(expect, Field(default_factory=expect)),
    )
    calls: Any = create_model(
        "CallsScenario",
        __base__=CallsScenario,
        data=data,
        turns=turns,
        # The full model, so a per-call key gets "belongs under each call", not "extra input".
        expect=(expect, Field(default_factory=expect)),
        calls=(list[one], Field(min_length=1)),
    )
    _MODELS[id(kit)] = (kit, one, calls)
    return one, calls

"""The desk's section of the business profile (`desk:`): what it books and how far ahead."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from callcrew.call import ProfileSection
from callcrew.profile import BusinessProfile
from callcrew.providers.agent_providers import AgentProviders

# The desk's agents by their stage names (`CrewAgent.stage`): the keys of `agents:`.
AGENT_STAGES = ("intro", "appointments", "survey", "wrapup")


class Service(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_-]+$", description="short id the tools use")
    name: str = Field(min_length=1)
    duration_minutes: int = Field(gt=0, le=8 * 60)
    price: str | None = None


class DeskProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = Field("appointments", description="which task agent serves callers")
    slot_step_minutes: int = Field(30, gt=0, le=240)
    booking_horizon_days: int = Field(60, gt=0, le=366)
    services: list[Service] = Field(min_length=1)
    agents: dict[str, AgentProviders] = Field(
        default_factory=dict, description="per-agent STT/LLM/TTS and turn-taking overrides"
    )

    @model_validator(mode="after")
    def _known_agents(self) -> DeskProfile:
        unknown = sorted(set(self.agents) - set(AGENT_STAGES))
        if unknown:
            raise ValueError(
                f"agents: no such agent {', '.join(unknown)}; the desk's: {', '.join(AGENT_STAGES)}"
            )
        return self

    @model_validator(mode="after")
    def _unique_services(self) -> DeskProfile:
        ids = [s.id for s in self.services]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"service ids must be unique; repeated: {', '.join(dupes)}")
        return self

    def service(self, service_id: str) -> Service | None:
        key = service_id.strip().lower()
        for s in self.services:
            if key in (s.id, s.name.lower()):
                return s
        return None


SECTION = ProfileSection(key="desk", model=DeskProfile)


def desk(profile: BusinessProfile) -> DeskProfile:
    """The desk's typed section of `profile` (loaded with this crew)."""
    return profile.section_as(DeskProfile)

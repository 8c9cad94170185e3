"""The contract between `callcrew dial` and the worker: the JSON an outbound dispatch carries.

`callcrew dial` writes one `OutboundMetadata` per call into the agent dispatch
(`CreateAgentDispatchRequest.metadata`); the job reads it back from `ctx.job.metadata` with
`parse_outbound_metadata`. `phone_number` is what `worker.detect_call` keys on to decide that
a call is outbound, so it is always present and always E.164. `purpose` names one of the crew's
purposes (or the engine's `custom`) and `data` is that purpose's data, already validated by
`dial` against the crew's model (telephony/purposes.py); the crew reads both when it opens the
call.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from callcrew.phone import require_e164

# The metadata of a dispatch is stored and forwarded by LiveKit; keep it well under any limit.
MAX_METADATA_BYTES = 16_000


class OutboundMetadata(BaseModel):
    """What the agent needs to place and open one outbound call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phone_number: str = Field(description="the number to call, E.164 (+15551234567)")
    purpose: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$", description="why we call: one of the crew's purposes"
    )
    trunk: str | None = Field(
        None, description="LiveKit id of the outbound SIP trunk to dial through (ST_...)"
    )
    data: dict[str, Any] = Field(
        default_factory=dict, description="the purpose's data (--data key=value, CSV columns)"
    )
    campaign: str | None = Field(None, description="campaign id when dialled from a CSV")
    line: int | None = Field(None, ge=1, description="line of the CSV file this call came from")

    @field_validator("phone_number")
    @classmethod
    def _e164(cls, v: str) -> str:
        return require_e164(v)

    @field_validator("trunk")
    @classmethod
    def _trunk_id(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must be a trunk id (ST_...) or absent")
        return v

    def to_json(self) -> str:
        text = self.model_dump_json(exclude_none=True)
        if len(text.encode()) > MAX_METADATA_BYTES:
            raise ValueError(
                f"outbound metadata is {len(text.encode())} bytes; keep it under "
                f"{MAX_METADATA_BYTES} (move large data to the store and pass an id)"
            )
        return text


def _describe(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = str(e["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def parse_outbound_metadata(text: str, purposes: Collection[str] = ()) -> OutboundMetadata:
    """Read the dispatch metadata of an outbound call; a clear ValueError when it is malformed
    (or, given the crew's `purposes`, names a purpose the crew does not have)."""
    if not text or not text.strip():
        raise ValueError("outbound call metadata is empty (expected a JSON object)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"outbound call metadata is not JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"outbound call metadata must be a JSON object, got {type(data).__name__}")
    try:
        meta = OutboundMetadata.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"outbound call metadata is invalid: {_describe(exc)}") from None
    if purposes and meta.purpose not in purposes:
        raise ValueError(
            f"outbound call metadata is invalid: purpose {meta.purpose!r} is not one of "
            f"{', '.join(purposes)}"
        )
    return meta

"""Which channel a call came in on (outbound dial, SIP inbound, web), from job and participant."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from livekit import rtc

from callcrew.call import CallInfo, Channel
from callcrew.phone import is_e164

logger = logging.getLogger("callcrew.worker")

SIP_KIND = rtc.ParticipantKind.PARTICIPANT_KIND_SIP


def _e164_or_none(number: str | None) -> str | None:
    """Withheld or odd caller IDs ("anonymous", "0123") identify nobody: treat them as absent."""
    if not number:
        return None
    cleaned = re.sub(r"[\s().-]", "", number)
    return cleaned if is_e164(cleaned) else None


def detect_call(
    *,
    room: str,
    job_metadata: str,
    participant_kind: int | None,
    attributes: dict[str, str] | None,
) -> CallInfo:
    """Which channel a call came in on, from the dispatch metadata and the first participant.

    An outbound dispatch carries JSON metadata with `phone_number`; a SIP participant means an
    inbound phone call (its attributes hold the caller and the dialled number); anything else is
    a browser or app (web).
    """
    metadata: dict[str, Any] = {}
    if job_metadata.strip():
        try:
            parsed = json.loads(job_metadata)
        except json.JSONDecodeError:
            logger.error("job metadata is not JSON; ignoring it (room %s)", room)
        else:
            if isinstance(parsed, dict):
                metadata = parsed
            else:
                logger.error("job metadata is not a JSON object; ignoring it (room %s)", room)
    if isinstance(metadata.get("phone_number"), str):
        return CallInfo(
            channel=Channel.OUTBOUND,
            room=room,
            caller_number=metadata["phone_number"],
            metadata=metadata,
        )
    attrs = attributes or {}
    if participant_kind == SIP_KIND:
        return CallInfo(
            channel=Channel.INBOUND,
            room=room,
            caller_number=_e164_or_none(attrs.get("sip.phoneNumber")),
            dialled_number=_e164_or_none(attrs.get("sip.trunkPhoneNumber")),
            metadata=metadata,
        )
    return CallInfo(channel=Channel.WEB, room=room, metadata=metadata)

"""A local stand-in for LiveKit's server API (Twirp), so tests run livekit-api's own client code.

It listens on 127.0.0.1 only and speaks the wire format the real server does:
- requests are POSTs to `/twirp/livekit.<Service>/<Method>`; livekit-api 1.2 sends protobuf
  (`Content-Type: application/protobuf`) and reads protobuf back; JSON requests
  (`application/json`, either proto or lowerCamelCase field names) get JSON answers with the
  original proto field names, as Twirp servers give by default;
- every request must carry `Authorization: Bearer <JWT>` signed with the stub's key and secret,
  with the grants the real server checks (SIP admin for trunks and rules, SIP call for dialling,
  roomCreate / roomList / roomAdmin for rooms and dispatches), else 401 / 403;
- errors are Twirp JSON (`{"code", "msg", "meta"}`) with Twirp's HTTP status for the code; a
  dial the callee's side refused with a SIP status carries `sip_status_code` and `sip_status` in
  `meta`, which the client turns into `SipCallError`;
- a dial nobody answers is what livekit-sip v1.11.0 really returns (seen on the wire,
  2026-12-01): it rings for the ringing timeout, sends CANCEL, and the request fails with Twirp
  `canceled` / "sip request timed out" (HTTP 408) and no SIP status at all — a plain
  `ServerError`, not a `SipCallError`. An address where nothing listens gives the same within
  the ring time (SIP's own transaction timer B, 32 s, outlasts the 30 s ring), and
  "transaction failed to complete (0 intermediate responses)" when the ring time is longer;
- an agent dispatch is taken only by a registered worker for that agent name whose load is below
  the server's `agents.target_load` (livekit-server `JobRequestAffinity`: `target_load - load`
  must be > 0); then the dispatch's `state.jobs` holds a running job and the agent joins the
  room. Otherwise the server logs "no workers with sufficient capacity" and nothing happens.

State (trunks, rules, rooms, dispatches, workers) lives in memory. `dial_outcomes` programs what
a dialled number does (answered, 486 busy, no answer, unreachable, ...), `workers` and
`target_load` who takes dispatches, `fail` makes a method fail, and `redact_passwords` answers
lists without passwords, as a hosted LiveKit may.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from livekit import api

API_KEY = "APIstubKey0001"
API_SECRET = "stub-secret-that-is-long-enough-for-hs256-0123456789"


@dataclass
class DialOutcome:
    """What happens when the stub is asked to dial a number.

    `sip_status_code` 0 means no SIP final response ever came: the request fails with the Twirp
    error `twirp_code` / `twirp_msg` and no SIP status, after `ring_s` seconds (scaled down in
    tests; the real service rings for the request's ringing timeout).
    """

    sip_status_code: int = 200
    sip_status: str = "OK"
    twirp_code: str = ""
    twirp_msg: str = ""
    ring_s: float = 0.0

    @property
    def answered(self) -> bool:
        return self.sip_status_code == 200


ANSWERED = DialOutcome()
BUSY = DialOutcome(486, "Busy Here")
DECLINED = DialOutcome(603, "Decline")
# livekit-sip v1.11.0 (pkg/sip/outbound.go sipResponse): the ring timeout expired, CANCEL sent.
NO_ANSWER = DialOutcome(0, "", "canceled", "sip request timed out")
# Nothing listens at the trunk address: within a 30 s ring the same error as NO_ANSWER; with a
# ring time past SIP timer B (32 s) the transaction itself gives up first, with this message.
UNREACHABLE = NO_ANSWER
UNREACHABLE_LONG_RING = DialOutcome(
    0, "", "canceled", "transaction failed to complete (0 intermediate responses)"
)
# What the notes of older LiveKit docs promise, and some carriers do send as a final response.
NO_ANSWER_480 = DialOutcome(480, "Temporarily Unavailable")
NO_ANSWER_408 = DialOutcome(408, "Request Timeout")

# Twirp's own code -> HTTP status table (twitchtv/twirp errors.go ServerHTTPStatusFromErrorCode).
TWIRP_HTTP_STATUS = {
    "canceled": 408,
    "unknown": 500,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "dataloss": 500,
}


@dataclass
class StubWorker:
    """A registered agent worker, as livekit-server sees it: its agent name and reported load."""

    agent_name: str
    load: float = 0.0
    id: str = "AW_stub"
    load_per_job: float = 0.0  # what each job it takes adds to its reported load


# How the real server maps a SIP status to a Twirp error (livekit/protocol sipCodeToGRPCCode).
_SIP_TWIRP = {
    486: ("failed_precondition", 412),
    480: ("failed_precondition", 412),
    408: ("deadline_exceeded", 408),
    404: ("not_found", 404),
    403: ("permission_denied", 403),
    603: ("permission_denied", 403),
}


class TwirpFailure(Exception):
    def __init__(
        self, code: str, msg: str, status: int, meta: dict[str, str] | None = None
    ) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status, self.meta = code, msg, status, meta or {}


@dataclass
class Call:
    service: str
    method: str
    request: Message
    content_type: str


@dataclass
class RoomRecord:
    room: api.Room
    created: float


@dataclass
class TwirpStub:
    api_key: str = API_KEY
    api_secret: str = API_SECRET
    url: str = ""
    inbound: dict[str, api.SIPInboundTrunkInfo] = field(default_factory=dict)
    outbound: dict[str, api.SIPOutboundTrunkInfo] = field(default_factory=dict)
    rules: dict[str, api.SIPDispatchRuleInfo] = field(default_factory=dict)
    rooms: dict[str, RoomRecord] = field(default_factory=dict)
    dispatches: list[api.AgentDispatch] = field(default_factory=list)
    sip_participants: list[api.CreateSIPParticipantRequest] = field(default_factory=list)
    transfers: list[api.TransferSIPParticipantRequest] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    # Programmable behaviour.
    dial_outcomes: dict[str, DialOutcome] = field(default_factory=dict)
    workers: list[StubWorker] = field(default_factory=list)
    target_load: float = 0.7  # livekit-server's agents.target_load (its default)
    participants: dict[str, list[api.ParticipantInfo]] = field(default_factory=dict)
    transfer_outcomes: dict[str, DialOutcome] = field(default_factory=dict)
    fail: dict[str, TwirpFailure] = field(default_factory=dict)  # "Service/Method" -> error
    fail_when: Callable[[Call], TwirpFailure | None] | None = None
    redact_passwords: bool = False
    room_lifetime: float = 0.0  # seconds a created room stays listed (the call's length)
    peak_open_rooms: int = 0
    deleted_rooms: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # --- bookkeeping ----------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def methods(self, name: str | None = None) -> list[str]:
        """Methods called, in order (optionally only those named `name`)."""
        return [c.method for c in self.calls if name is None or c.method == name]

    def writes(self) -> list[str]:
        return [c.method for c in self.calls if not c.method.startswith(("List", "Get"))]

    def open_rooms(self) -> list[str]:
        now = time.monotonic()
        return [n for n, r in self.rooms.items() if now - r.created < self.room_lifetime]

    # --- handlers -------------------------------------------------------------------------------

    def _table(self) -> dict[str, tuple[type[Message], Callable[[Any], Any], str]]:
        return {
            "SIP/CreateSIPInboundTrunk": (
                api.CreateSIPInboundTrunkRequest,
                self._create_inbound,
                "sip_admin",
            ),
            "SIP/CreateSIPOutboundTrunk": (
                api.CreateSIPOutboundTrunkRequest,
                self._create_outbound,
                "sip_admin",
            ),
            "SIP/UpdateSIPInboundTrunk": (
                api.UpdateSIPInboundTrunkRequest,
                self._update_inbound,
                "sip_admin",
            ),
            "SIP/UpdateSIPOutboundTrunk": (
                api.UpdateSIPOutboundTrunkRequest,
                self._update_outbound,
                "sip_admin",
            ),
            "SIP/ListSIPInboundTrunk": (
                api.ListSIPInboundTrunkRequest,
                self._list_inbound,
                "sip_admin",
            ),
            "SIP/ListSIPOutboundTrunk": (
                api.ListSIPOutboundTrunkRequest,
                self._list_outbound,
                "sip_admin",
            ),
            "SIP/DeleteSIPTrunk": (api.DeleteSIPTrunkRequest, self._delete_trunk, "sip_admin"),
            "SIP/CreateSIPDispatchRule": (
                api.CreateSIPDispatchRuleRequest,
                self._create_rule,
                "sip_admin",
            ),
            "SIP/UpdateSIPDispatchRule": (
                api.UpdateSIPDispatchRuleRequest,
                self._update_rule,
                "sip_admin",
            ),
            "SIP/ListSIPDispatchRule": (
                api.ListSIPDispatchRuleRequest,
                self._list_rules,
                "sip_admin",
            ),
            "SIP/DeleteSIPDispatchRule": (
                api.DeleteSIPDispatchRuleRequest,
                self._delete_rule,
                "sip_admin",
            ),
            "SIP/CreateSIPParticipant": (
                api.CreateSIPParticipantRequest,
                self._create_participant,
                "sip_call",
            ),
            "SIP/TransferSIPParticipant": (
                api.TransferSIPParticipantRequest,
                self._transfer,
                "sip_call",
            ),
            "AgentDispatchService/CreateDispatch": (
                api.CreateAgentDispatchRequest,
                self._create_dispatch,
                "room_admin",
            ),
            "AgentDispatchService/ListDispatch": (
                api.ListAgentDispatchRequest,
                self._list_dispatch,
                "room_admin",
            ),
            "RoomService/CreateRoom": (api.CreateRoomRequest, self._create_room, "room_create"),
            "RoomService/DeleteRoom": (api.DeleteRoomRequest, self._delete_room, "room_create"),
            "RoomService/ListRooms": (api.ListRoomsRequest, self._list_rooms, "room_list"),
            "RoomService/ListParticipants": (
                api.ListParticipantsRequest,
                self._list_participants,
                "room_admin",
            ),
        }

    @staticmethod
    def _invalid(msg: str) -> TwirpFailure:
        return TwirpFailure("invalid_argument", msg, 400)

    def _present(self, t: Message) -> Message:
        out = type(t)()
        out.CopyFrom(t)
        if self.redact_passwords and hasattr(out, "auth_password"):
            out.auth_password = ""
        return out

    @staticmethod
    def _check_inbound(t: api.SIPInboundTrunkInfo) -> None:
        # Mirrors livekit/protocol SIPInboundTrunkInfo.ValidateResult.
        if not (t.auth_username or t.auth_password) and not t.allowed_addresses and not t.numbers:
            raise TwirpStub._invalid(
                "for security, one of the fields must be set: AuthUsername+AuthPassword, "
                "AllowedAddresses or Numbers"
            )

    @staticmethod
    def _check_outbound(t: api.SIPOutboundTrunkInfo) -> None:
        if not t.numbers:
            raise TwirpStub._invalid("no trunk numbers specified")
        if not t.address:
            raise TwirpStub._invalid("no outbound address specified")
        if "@" in t.address or ";" in t.address or t.address.startswith(("sip:", "sips:")):
            raise TwirpStub._invalid("trunk address should be a hostname or IP, not SIP URI")

    def _create_inbound(self, req: api.CreateSIPInboundTrunkRequest) -> Message:
        if req.trunk.sip_trunk_id:
            raise self._invalid("trunk ID must be empty")
        self._check_inbound(req.trunk)
        taken = {n for t in self.inbound.values() for n in t.numbers}
        clash = [n for n in req.trunk.numbers if n in taken]
        if clash and not req.trunk.allowed_addresses:
            raise self._invalid(f"conflicting inbound trunks for numbers {clash}")
        info = self._present(req.trunk)
        assert isinstance(info, api.SIPInboundTrunkInfo)
        info.auth_password = req.trunk.auth_password
        info.sip_trunk_id = self._id("ST_in")
        self.inbound[info.sip_trunk_id] = info
        return self._present(info)

    def _create_outbound(self, req: api.CreateSIPOutboundTrunkRequest) -> Message:
        if req.trunk.sip_trunk_id:
            raise self._invalid("trunk ID must be empty")
        self._check_outbound(req.trunk)
        info = api.SIPOutboundTrunkInfo()
        info.CopyFrom(req.trunk)
        info.sip_trunk_id = self._id("ST_out")
        self.outbound[info.sip_trunk_id] = info
        return self._present(info)

    def _update_inbound(self, req: api.UpdateSIPInboundTrunkRequest) -> Message:
        if req.sip_trunk_id not in self.inbound:
            raise TwirpFailure("not_found", "sip trunk not found", 404)
        if req.WhichOneof("action") != "replace":
            raise TwirpFailure("unimplemented", "the stub only implements replace", 501)
        info = api.SIPInboundTrunkInfo()
        info.CopyFrom(req.replace)
        info.sip_trunk_id = req.sip_trunk_id
        self._check_inbound(info)
        self.inbound[req.sip_trunk_id] = info
        return self._present(info)

    def _update_outbound(self, req: api.UpdateSIPOutboundTrunkRequest) -> Message:
        if req.sip_trunk_id not in self.outbound:
            raise TwirpFailure("not_found", "sip trunk not found", 404)
        if req.WhichOneof("action") != "replace":
            raise TwirpFailure("unimplemented", "the stub only implements replace", 501)
        info = api.SIPOutboundTrunkInfo()
        info.CopyFrom(req.replace)
        info.sip_trunk_id = req.sip_trunk_id
        self._check_outbound(info)
        self.outbound[req.sip_trunk_id] = info
        return self._present(info)

    def _list_inbound(self, req: api.ListSIPInboundTrunkRequest) -> Message:
        items = [self._present(t) for t in self.inbound.values()]
        return api.ListSIPInboundTrunkResponse(items=items)  # type: ignore[arg-type]

    def _list_outbound(self, req: api.ListSIPOutboundTrunkRequest) -> Message:
        items = [self._present(t) for t in self.outbound.values()]
        return api.ListSIPOutboundTrunkResponse(items=items)  # type: ignore[arg-type]

    def _delete_trunk(self, req: api.DeleteSIPTrunkRequest) -> Message:
        if not req.sip_trunk_id:
            raise self._invalid("trunk ID is required")
        if self.inbound.pop(req.sip_trunk_id, None) is None and (
            self.outbound.pop(req.sip_trunk_id, None) is None
        ):
            raise TwirpFailure("not_found", "sip trunk not found", 404)
        return api.SIPTrunkInfo(sip_trunk_id=req.sip_trunk_id)

    def _create_rule(self, req: api.CreateSIPDispatchRuleRequest) -> Message:
        if req.HasField("dispatch_rule"):
            info = api.SIPDispatchRuleInfo()
            info.CopyFrom(req.dispatch_rule)
        else:  # the deprecated flat form
            info = api.SIPDispatchRuleInfo(
                rule=req.rule, trunk_ids=req.trunk_ids, name=req.name, metadata=req.metadata
            )
        if not info.HasField("rule"):
            raise self._invalid("missing rule")
        for tid in info.trunk_ids:
            if tid not in self.inbound:
                raise self._invalid(f"unknown trunk {tid}")
        info.sip_dispatch_rule_id = self._id("SDR_")
        self.rules[info.sip_dispatch_rule_id] = info
        return info

    def _update_rule(self, req: api.UpdateSIPDispatchRuleRequest) -> Message:
        if req.sip_dispatch_rule_id not in self.rules:
            raise TwirpFailure("not_found", "dispatch rule not found", 404)
        if req.WhichOneof("action") != "replace":
            raise TwirpFailure("unimplemented", "the stub only implements replace", 501)
        info = api.SIPDispatchRuleInfo()
        info.CopyFrom(req.replace)
        info.sip_dispatch_rule_id = req.sip_dispatch_rule_id
        if not info.HasField("rule"):
            raise self._invalid("missing rule")
        self.rules[req.sip_dispatch_rule_id] = info
        return info

    def _list_rules(self, req: api.ListSIPDispatchRuleRequest) -> Message:
        return api.ListSIPDispatchRuleResponse(items=list(self.rules.values()))

    def _delete_rule(self, req: api.DeleteSIPDispatchRuleRequest) -> Message:
        info = self.rules.pop(req.sip_dispatch_rule_id, None)
        if info is None:
            raise TwirpFailure("not_found", "dispatch rule not found", 404)
        return info

    def _sip_failure(self, outcome: DialOutcome, what: str) -> TwirpFailure:
        code, status = _SIP_TWIRP.get(outcome.sip_status_code, ("unavailable", 503))
        return TwirpFailure(
            code,
            f"sip status {outcome.sip_status_code}: {outcome.sip_status}",
            status,
            {"sip_status_code": str(outcome.sip_status_code), "sip_status": outcome.sip_status},
        )

    async def _create_participant(self, req: api.CreateSIPParticipantRequest) -> Message:
        if req.sip_trunk_id and req.sip_trunk_id not in self.outbound:
            raise TwirpFailure("not_found", f"sip trunk {req.sip_trunk_id} not found", 404)
        self.sip_participants.append(req)
        outcome = self.dial_outcomes.get(req.sip_call_to, ANSWERED)
        if outcome.ring_s:
            await asyncio.sleep(outcome.ring_s)
        if outcome.sip_status_code == 0:
            # No final SIP response: a psrpc error, surfaced as Twirp with no SIP metadata.
            code = outcome.twirp_code
            raise TwirpFailure(code, outcome.twirp_msg, TWIRP_HTTP_STATUS[code])
        if not outcome.answered:
            raise self._sip_failure(outcome, "dial")
        identity = req.participant_identity or f"sip_{req.sip_call_to}"
        return api.SIPParticipantInfo(
            participant_id=self._id("PA_"),
            participant_identity=identity,
            room_name=req.room_name,
            sip_call_id=self._id("SCL_"),
        )

    def _transfer(self, req: api.TransferSIPParticipantRequest) -> Message:
        self.transfers.append(req)
        outcome = self.transfer_outcomes.get(req.transfer_to, ANSWERED)
        if not outcome.answered:
            raise self._sip_failure(outcome, "transfer")
        return api.TransferSIPParticipantResponse(
            transfer_id=self._id("STR_"),
            status=api.SIPTransferStatus.STS_TRANSFER_SUCCESSFUL,
        )

    def _add_dispatch(self, room: str, agent_name: str, metadata: str) -> api.AgentDispatch:
        d = api.AgentDispatch(
            id=self._id("AD_"), agent_name=agent_name, room=room, metadata=metadata
        )
        self.dispatches.append(d)
        self._launch_job(d)
        return d

    def _launch_job(self, d: api.AgentDispatch) -> None:
        """livekit-server's LaunchJob + JobRequest: a worker with spare capacity takes it."""
        takers = [
            w
            for w in self.workers
            if w.agent_name == d.agent_name and self.target_load - w.load > 0
        ]
        if not takers:
            return  # "no workers with sufficient capacity": the dispatch just sits there
        worker = min(takers, key=lambda w: w.load)
        worker.load += worker.load_per_job
        job_id = self._id("AJ_")
        identity = f"agent-{job_id}"
        d.state.jobs.append(
            api.Job(
                id=job_id,
                dispatch_id=d.id,
                type=api.JobType.JT_ROOM,
                agent_name=d.agent_name,
                metadata=d.metadata,
                state=api.JobState(
                    status=api.JobStatus.JS_RUNNING,
                    participant_identity=identity,
                    worker_id=worker.id,
                    started_at=int(time.time() * 1e9),
                ),
            )
        )
        self.participants.setdefault(d.room, []).append(
            api.ParticipantInfo(
                sid=self._id("PA_"),
                identity=identity,
                kind=api.ParticipantInfo.Kind.AGENT,
                state=api.ParticipantInfo.State.ACTIVE,
            )
        )

    def _create_dispatch(self, req: api.CreateAgentDispatchRequest) -> Message:
        if not req.room:
            raise self._invalid("room is required")
        if req.room not in self.rooms:  # created implicitly, as the server does
            self._create_room(api.CreateRoomRequest(name=req.room))
        return self._add_dispatch(req.room, req.agent_name, req.metadata)

    def _list_dispatch(self, req: api.ListAgentDispatchRequest) -> Message:
        if req.room not in self.rooms:  # as RoomManager.ListDispatch: ErrRoomNotFound
            raise TwirpFailure("not_found", "requested room does not exist", 404)
        return api.ListAgentDispatchResponse(
            agent_dispatches=[d for d in self.dispatches if d.room == req.room]
        )

    def _create_room(self, req: api.CreateRoomRequest) -> Message:
        if req.name not in self.rooms:
            room = api.Room(
                sid=self._id("RM_"),
                name=req.name,
                empty_timeout=req.empty_timeout,
                departure_timeout=req.departure_timeout,
                metadata=req.metadata,
            )
            self.rooms[req.name] = RoomRecord(room, time.monotonic())
            # As livekit-server's createAgentDispatchesFromRoomAgent: a room created without
            # `agents` gets a default dispatch for agents registered without a name.
            for a in req.agents or [api.RoomAgentDispatch()]:
                self._add_dispatch(req.name, a.agent_name, a.metadata)
        self.peak_open_rooms = max(self.peak_open_rooms, len(self.open_rooms()))
        return self.rooms[req.name].room

    def _delete_room(self, req: api.DeleteRoomRequest) -> Message:
        self.rooms.pop(req.room, None)
        self.participants.pop(req.room, None)
        self.deleted_rooms.append(req.room)
        return api.DeleteRoomResponse()

    def _list_participants(self, req: api.ListParticipantsRequest) -> Message:
        if req.room not in self.rooms:
            raise TwirpFailure("not_found", "requested room does not exist", 404)
        return api.ListParticipantsResponse(participants=self.participants.get(req.room, []))

    def _list_rooms(self, req: api.ListRoomsRequest) -> Message:
        open_names = set(self.open_rooms())
        names = set(req.names) if req.names else open_names
        return api.ListRoomsResponse(rooms=[self.rooms[n].room for n in sorted(names & open_names)])

    # --- HTTP -----------------------------------------------------------------------------------

    def _authorize(self, request: web.Request, grant: str, req: Message) -> None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise TwirpFailure("unauthenticated", "no authorization token", 401)
        try:
            claims = jwt.decode(
                header.removeprefix("Bearer "),
                self.api_secret,
                algorithms=["HS256"],
                issuer=self.api_key,
                options={"require": ["exp", "iss"]},
                leeway=60,
            )
        except jwt.PyJWTError as exc:
            raise TwirpFailure("unauthenticated", f"invalid token: {exc}", 401) from None
        video, sip = claims.get("video", {}), claims.get("sip", {})
        ok = {
            "sip_admin": sip.get("admin") is True,
            "sip_call": sip.get("call") is True,
            "room_create": video.get("roomCreate") is True,
            "room_list": video.get("roomList") is True,
            "room_admin": video.get("roomAdmin") is True
            and video.get("room") in ("", getattr(req, "room", "")),
        }[grant]
        if not ok:
            raise TwirpFailure("permission_denied", f"token lacks the {grant} grant", 403)

    async def handle(self, request: web.Request) -> web.Response:
        key = f"{request.match_info['service']}/{request.match_info['method']}"
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        as_json = content_type == "application/json"
        try:
            spec = self._table().get(key)
            if spec is None or not key.startswith(("SIP/", "AgentDispatch", "RoomService")):
                raise TwirpFailure("bad_route", f"no handler for {request.path}", 404)
            req_cls, handler, grant = spec
            body = await request.read()
            req = req_cls()
            try:
                if as_json:
                    json_format.Parse(body or b"{}", req)
                elif content_type == "application/protobuf":
                    req.ParseFromString(body)
                else:
                    raise TwirpFailure(
                        "bad_route", f"unexpected Content-Type {content_type!r}", 404
                    )
            except (json_format.ParseError, DecodeError, ValueError) as exc:
                raise TwirpFailure(
                    "malformed", f"could not decode the request: {exc}", 400
                ) from None
            self._authorize(request, grant, req)
            call = Call(key.split("/")[0], key.split("/")[1], req, content_type)
            self.calls.append(call)
            if key in self.fail:
                raise self.fail[key]
            if self.fail_when is not None and (failure := self.fail_when(call)) is not None:
                raise failure
            resp = handler(req)
            if asyncio.iscoroutine(resp):
                resp = await resp
        except TwirpFailure as f:
            return web.json_response(
                {"code": f.code, "msg": f.msg, **({"meta": f.meta} if f.meta else {})},
                status=f.status,
            )
        if as_json:
            text = json_format.MessageToJson(resp, preserving_proto_field_name=True, indent=None)
            return web.Response(text=text, content_type="application/json")
        return web.Response(body=resp.SerializeToString(), content_type="application/protobuf")


@asynccontextmanager
async def running_stub(stub: TwirpStub | None = None) -> AsyncIterator[TwirpStub]:
    """Serve a stub on 127.0.0.1 (a free port) for the duration of the block."""
    s = stub or TwirpStub()
    app = web.Application()
    app.router.add_post("/twirp/livekit.{service}/{method}", s.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    s.url = f"http://127.0.0.1:{port}"
    try:
        yield s
    finally:
        await runner.cleanup()


@contextmanager
def stub_in_thread(stub: TwirpStub | None = None) -> Iterator[TwirpStub]:
    """The stub served from its own thread and event loop, for commands that call asyncio.run."""
    s = stub or TwirpStub()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Event | None = None
    errors: list[BaseException] = []

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        try:
            async with running_stub(s):
                ready.set()
                await stop.wait()
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(10) or errors:
        raise RuntimeError(f"the Twirp stub did not start: {errors}")
    try:
        yield s
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()

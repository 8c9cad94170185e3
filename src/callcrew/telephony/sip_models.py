"""The typed models of sip.yaml: trunks, auth and dispatch rules, each validated as it is read."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

Transport = Literal["auto", "udp", "tcp", "tls"]

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ROOM_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")

DEFAULT_ROOM_PREFIX = "call-in-"

LITERAL_PASSWORD_MESSAGE = (
    "a literal password is not allowed in this file (it would end up in git and in logs); "
    "put it in an environment variable or .env and name it here: password_env: MY_TRUNK_PASSWORD"
)


def _refuse_literal_passwords(data: Any) -> Any:
    if isinstance(data, dict):
        for key in data:
            k = str(key).lower()
            if ("password" in k and k != "password_env") or k == "secret":
                raise ValueError(f"{key}: {LITERAL_PASSWORD_MESSAGE}")
    return data


class Auth(BaseModel):
    """Digest auth between LiveKit and the carrier; the password comes from the environment."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=128)
    password_env: str = Field(description="environment variable holding the password")

    @model_validator(mode="before")
    @classmethod
    def _no_literal(cls, data: Any) -> Any:
        return _refuse_literal_passwords(data)

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        if not _ENV_NAME.match(v):
            raise ValueError(
                f"{v!r} is not an environment variable name (capitals, digits, underscores)"
            )
        return v


def _e164(v: str, what: str) -> str:
    cleaned = re.sub(r"[\s().-]", "", v)
    try:
        parsed = phonenumbers.parse(cleaned, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if not cleaned.startswith("+") or parsed is None or not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"{what} {v!r} is not an E.164 number like +15551234567")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


# An inbound trunk without auth may only be reachable from ranges this size or smaller, per
# address family (the union, so overlapping ranges count once). Carriers publish a handful of
# small ranges: Twilio's signalling IPs are /30s (4 addresses each), Telnyx's /24s (256), so
# every real list is far below a /16 (65,536). A /1 pair ("0.0.0.0/1", "128.0.0.0/1") is the
# whole internet in two lines. IPv6: a /48, one site's allocation.
MAX_OPEN_IPV4 = 2**16
MAX_OPEN_IPV6 = 2**80


def address_counts(addresses: list[str]) -> tuple[int, int]:
    """(IPv4, IPv6) addresses covered by the union of the ranges."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for a in addresses:
        net = ipaddress.ip_network(a, strict=False)
        if isinstance(net, ipaddress.IPv4Network):
            v4.append(net)
        else:
            v6.append(net)
    return (
        sum(n.num_addresses for n in ipaddress.collapse_addresses(v4)),
        sum(n.num_addresses for n in ipaddress.collapse_addresses(v6)),
    )


def _repeated(values: list[str]) -> list[str]:
    """Values listed more than once, sorted; linear (a Counter, not list.count per value)."""
    return sorted(v for v, n in Counter(values).items() if n > 1)


def _unique(values: list[str], what: str) -> list[str]:
    dupes = _repeated(values)
    if dupes:
        raise ValueError(f"{what} listed twice: {', '.join(dupes)}")
    return values


def _check_name(v: str) -> str:
    if not _NAME.match(v):
        raise ValueError(
            f"{v!r}: names are 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return v


Name = Annotated[str, AfterValidator(_check_name)]


class InboundTrunk(BaseModel):
    """Calls from the carrier to LiveKit: which numbers, from where, with what credentials."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    numbers: list[str] = Field(default_factory=list, description="your numbers (DIDs), E.164")
    allowed_addresses: list[str] = Field(
        default_factory=list, description="carrier signalling IPs or CIDR ranges"
    )
    allowed_numbers: list[str] = Field(
        default_factory=list, description="only accept calls from these caller IDs"
    )
    auth: Auth | None = None
    allow_open: bool = Field(False, description="accept calls from anywhere without auth")

    @model_validator(mode="before")
    @classmethod
    def _no_literal(cls, data: Any) -> Any:
        return _refuse_literal_passwords(data)

    @field_validator("numbers")
    @classmethod
    def _numbers(cls, v: list[str]) -> list[str]:
        return _unique([_e164(n, "number") for n in v], "number")

    @field_validator("allowed_numbers")
    @classmethod
    def _allowed_numbers(cls, v: list[str]) -> list[str]:
        return _unique([_e164(n, "allowed number") for n in v], "allowed number")

    @field_validator("allowed_addresses")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        out = []
        for a in v:
            try:
                ipaddress.ip_network(a, strict=False)
            except ValueError:
                raise ValueError(
                    f"{a!r} is not an IP address or CIDR range (like 54.172.60.0/30)"
                ) from None
            out.append(a)
        return _unique(out, "address")

    @property
    def open_to_any_address(self) -> bool:
        if not self.allowed_addresses:
            return True
        return any(
            ipaddress.ip_network(a, strict=False).prefixlen == 0 for a in self.allowed_addresses
        )

    def too_wide(self) -> str | None:
        """Which address family's allowed ranges cover more than a carrier needs, if any."""
        v4, v6 = address_counts(self.allowed_addresses)
        if v4 > MAX_OPEN_IPV4:
            return f"{v4:,} IPv4 addresses (more than a /16, {MAX_OPEN_IPV4:,})"
        if v6 > MAX_OPEN_IPV6:
            # 2**128 written out helps nobody: say which prefix holds that many.
            return f"IPv6 ranges as large as a /{129 - v6.bit_length()} (more than a /48)"
        return None

    @model_validator(mode="after")
    def _not_open(self) -> InboundTrunk:
        if self.auth is None and self.open_to_any_address and not self.allow_open:
            raise ValueError(
                "this trunk accepts calls from any address without auth: anyone who finds your "
                "SIP address could call in and run up your bill. Add allowed_addresses (your "
                "carrier's signalling IPs) and/or auth, or set allow_open: true if you mean it"
            )
        wide = None if self.auth is not None or self.allow_open else self.too_wide()
        if wide is not None:
            raise ValueError(
                f"allowed_addresses cover {wide} and the trunk has no auth: a carrier's "
                "signalling IPs are a few /30 or /24 ranges (docs/telephony.md). Narrow them to "
                "your carrier's published ranges, add auth, or set allow_open: true if you mean it"
            )
        if self.auth is None and not self.allowed_addresses and not self.numbers:
            raise ValueError(
                "LiveKit refuses an inbound trunk with no numbers, no allowed_addresses and no "
                "auth; give it at least one"
            )
        return self


class OutboundTrunk(BaseModel):
    """Calls from LiveKit to the carrier: where to send them and which caller IDs to use."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    address: str = Field(description="the carrier's SIP host, e.g. example.pstn.twilio.com")
    numbers: list[str] = Field(min_length=1, description="caller IDs you own, E.164")
    transport: Transport = "auto"
    auth: Auth | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_literal(cls, data: Any) -> Any:
        return _refuse_literal_passwords(data)

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        v = v.strip()
        if v.startswith(("sip:", "sips:")) or "@" in v or ";" in v:
            raise ValueError(
                f"{v!r}: give a host name or IP (example.pstn.twilio.com), not a SIP URI; "
                "set the transport with `transport:`"
            )
        if not _HOST.match(v):
            raise ValueError(f"{v!r} is not a host name or IP (optionally with :port)")
        return v

    @field_validator("numbers")
    @classmethod
    def _numbers(cls, v: list[str]) -> list[str]:
        return _unique([_e164(n, "number") for n in v], "number")


class DispatchRule(BaseModel):
    """Which inbound trunks' calls get a room of their own and our agent in it."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    trunks: list[str] = Field(min_length=1, description="names of inbound trunks in this file")
    room_prefix: str = DEFAULT_ROOM_PREFIX
    agent_name: str | None = Field(None, description="defaults to the AGENT_NAME setting")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="JSON object handed to the agent's job"
    )

    @field_validator("trunks")
    @classmethod
    def _trunks(cls, v: list[str]) -> list[str]:
        return _unique(v, "trunk")

    @field_validator("room_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not _ROOM_PREFIX.match(v):
            raise ValueError(f"{v!r}: 1-40 letters, digits, '_' or '-', like call-in-")
        if v.startswith("call-out-"):
            raise ValueError("call-out- is reserved for outbound calls (callcrew dial)")
        return v

    @field_validator("agent_name")
    @classmethod
    def _agent(cls, v: str | None) -> str | None:
        if v is not None and not (1 <= len(v) <= 64):
            raise ValueError("must be 1-64 characters")
        return v

    @field_validator("metadata")
    @classmethod
    def _meta(cls, v: dict[str, Any]) -> dict[str, Any]:
        if "phone_number" in v:
            raise ValueError(
                "must not contain 'phone_number': the worker reads that key as an outbound call"
            )
        return v


class SipConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inbound_trunks: list[InboundTrunk] = Field(default_factory=list)
    outbound_trunks: list[OutboundTrunk] = Field(default_factory=list)
    dispatch_rules: list[DispatchRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_checks(self) -> SipConfig:
        problems = []
        for what, items in (
            ("inbound trunk", self.inbound_trunks),
            ("outbound trunk", self.outbound_trunks),
            ("dispatch rule", self.dispatch_rules),
        ):
            dupes = _repeated([i.name for i in items])
            if dupes:
                problems.append(f"{what} names must be unique; repeated: {', '.join(dupes)}")
        inbound = {t.name for t in self.inbound_trunks}
        for i, rule in enumerate(self.dispatch_rules):
            unknown = [t for t in rule.trunks if t not in inbound]
            if unknown:
                problems.append(
                    f"dispatch_rules[{i}] ({rule.name}).trunks: no inbound trunk named "
                    f"{', '.join(unknown)} in this file"
                    + (f" (inbound trunks: {', '.join(sorted(inbound))})" if inbound else "")
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def inbound(self, name: str) -> InboundTrunk | None:
        return next((t for t in self.inbound_trunks if t.name == name), None)

    def outbound(self, name: str) -> OutboundTrunk | None:
        return next((t for t in self.outbound_trunks if t.name == name), None)

    def secret_users(self) -> dict[str, list[str]]:
        """Environment variable -> the trunks whose password it holds."""
        users: dict[str, list[str]] = {}
        for kind, trunks in (
            ("inbound", self.inbound_trunks),
            ("outbound", self.outbound_trunks),
        ):
            for t in trunks:
                if t.auth is not None:
                    users.setdefault(t.auth.password_env, []).append(f"{kind} trunk {t.name}")
        return users

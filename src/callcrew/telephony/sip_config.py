"""Reading `sip.yaml` (the SIP trunks and dispatch rules LiveKit should have) and its secrets.

`callcrew sip apply` makes LiveKit match this file. Secrets never live in it: a trunk's password
is named by the environment variable that holds it (`password_env: TWILIO_SIP_PASSWORD`), and a
literal password is refused. An inbound trunk that anyone on the internet could call into (no
allowed addresses, no auth) is refused unless it says `allow_open: true`.

Errors name the file, the field (with the trunk or rule name) and the problem, all at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import ValidationError

from callcrew import yamlio
from callcrew.settings import ENV_FILES
from callcrew.telephony.sip_models import (
    DispatchRule,
    InboundTrunk,
    OutboundTrunk,
    SipConfig,
)


class SipConfigError(Exception):
    """sip.yaml is missing, unreadable or wrong; `problems` holds one line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        if len(self.problems) == 1 and "\n" not in self.problems[0]:
            return f"{self.source}: {self.problems[0]}"
        return "\n".join([f"{self.source}: invalid SIP configuration", *self.problems])


class MissingSecretsError(Exception):
    """Environment variables that sip.yaml names are not set; `names` lists every one."""

    def __init__(self, source: str, missing: dict[str, list[str]]) -> None:
        self.source = source
        self.missing = missing
        lines = [f"{source} names secrets that are not set (environment or .env):"]
        for var, users in missing.items():
            lines.append(f"  - {var} (used by {', '.join(users)})")
        super().__init__("\n".join(lines))

    @property
    def names(self) -> list[str]:
        return list(self.missing)


def _loc(data: Any, loc: tuple[int | str, ...]) -> str:
    """`inbound_trunks[0] (twilio-in).auth.password_env` from a pydantic error location."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            item = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                out += f" ({item['name']})"
            node = item
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def parse_sip_config(data: Any, source: str) -> SipConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SipConfigError(
            source,
            ["must be a YAML mapping with inbound_trunks, outbound_trunks and dispatch_rules"],
        )
    try:
        return SipConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            where = _loc(data, tuple(e["loc"]))
            msg = str(e["msg"]).removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                msg = "unknown field (check the spelling; see docs/telephony.md)"
            problems.append(f"  - {where}: {msg}")
        raise SipConfigError(source, problems) from None


def load_sip_config(path: Path | str) -> SipConfig:
    p = Path(path)
    source = str(p)
    try:
        data = yamlio.load(yamlio.read_text(p))
    except FileNotFoundError:
        raise SipConfigError(
            source, ["file not found (copy sip.yaml from the repository and edit it)"]
        ) from None
    except yamlio.YamlFileError as exc:
        raise SipConfigError(source, [exc.reason]) from None
    return parse_sip_config(data, source)


def environment(dotenv: Path | None = None) -> dict[str, str]:
    """The process environment over `.env` over `.env.local` (as settings read them), or over
    the one file `dotenv` names."""
    env: dict[str, str] = {}
    files = [dotenv] if dotenv is not None else [Path(name) for name in ENV_FILES]
    for file in files:
        if file.is_file():
            env.update({k: v for k, v in dotenv_values(file).items() if v is not None})
    env.update(os.environ)
    return env


def resolve_secrets(config: SipConfig, source: str, env: Mapping[str, str]) -> dict[str, str]:
    """password_env name -> value, or MissingSecretsError naming every variable that is unset."""
    users = config.secret_users()
    missing = {var: who for var, who in users.items() if not env.get(var)}
    if missing:
        raise MissingSecretsError(source, missing)
    return {var: env[var] for var in users}


# The models lived here before sip_models.py; callers may still name them through this module.
__all__ = [
    "DispatchRule",
    "InboundTrunk",
    "MissingSecretsError",
    "OutboundTrunk",
    "SipConfig",
    "SipConfigError",
    "environment",
    "load_sip_config",
    "parse_sip_config",
    "resolve_secrets",
]

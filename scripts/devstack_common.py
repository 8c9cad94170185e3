"""scripts/devstack's shared ground: pins, ports, state directory, logging and exits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

# ---------------------------------------------------------------------------------------------
# Pins. Bump RECIPE when the build steps/patches change so existing builds are redone.
# ---------------------------------------------------------------------------------------------
LIVEKIT_SERVER_MODULE = "github.com/livekit/livekit-server"
LIVEKIT_SERVER_VERSION = "v1.13.11"  # newest served by the Go module proxy here (2026-11-25)
LIVEKIT_SERVER_RECIPE = "cc1"

# livekit-sip is NOT served by the Go module proxy (github.com/livekit/sip, and its
# github.com/livekit/media-sdk dependency), so it is not built: `up` runs a binary if one is given.
SIP_UNAVAILABLE = (
    "livekit-sip: not available (github.com/livekit/sip is not served by the Go module proxy "
    "here); SIP tests will be skipped"
)

# Upstream limit, seen with v1.11.0: its SIP user agent looks for a non-loopback IPv4 address
# and, finding none, exits 0 with "server not connected to any network".
SIP_LOOPBACK_ONLY = (
    "livekit-sip: not started: livekit-sip v1.11.0 cannot start where the only network "
    "interfaces are loopback (it exits with 'server not connected to any network'); a given "
    "LIVEKIT_SIP_BIN runs only outside a loopback-only namespace, so SIP tests are skipped here"
)

APT_FOR_REDIS = ["redis-server"]

BIND = "127.0.0.1"  # not configurable: the stack must stay on loopback

SERVICES = ["redis", "livekit-server", "livekit-sip"]
SIP = "livekit-sip"

RUN_ENV = "CALLCREW_DEVSTACK_RUN"  # each `up` gives its processes a fresh token in this


def env_int(name: str, default: int) -> int:
    v = os.environ.get(name, "").strip()
    if not v:
        return default
    try:
        return int(v)
    except ValueError:
        die(f"{name} must be an integer, got {v!r}")


def tools_dir() -> Path:
    return Path(
        os.environ.get("CALLCREW_TOOLS") or Path.home() / ".cache" / "callcrew" / "tools"
    ).expanduser()


def netns_id(pid: int | str = "self") -> str | None:
    """The network namespace of a process ("net:[4026531840]" -> "4026531840"), if readable."""
    try:
        link = os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None
    m = re.search(r"\[(\d+)\]", link)
    return m.group(1) if m else None


def state_dir() -> Path:
    """CALLCREW_DEVSTACK_DIR, else one directory per network namespace: two stacks in two
    namespaces (two `isolated` runs) never share pid files, so neither can stop the other."""
    given = os.environ.get("CALLCREW_DEVSTACK_DIR")
    if given:
        return Path(given).expanduser()
    ours = netns_id()
    if ours is None or ours == netns_id(1):
        return Path("/tmp/callcrew-devstack")  # the machine's own namespace
    return Path(f"/tmp/callcrew-devstack-net{ours}")


@dataclass
class Ports:
    redis: int
    http: int
    rtc_tcp: int
    rtc_udp_start: int
    rtc_udp_end: int
    sip: int
    rtp_start: int
    rtp_end: int
    sip_health: int

    @classmethod
    def from_env(cls) -> Ports:
        p = cls(
            redis=env_int("DEVSTACK_REDIS_PORT", 6390),
            http=env_int("DEVSTACK_HTTP_PORT", 7880),
            rtc_tcp=env_int("DEVSTACK_RTC_TCP_PORT", 7881),
            rtc_udp_start=env_int("DEVSTACK_RTC_UDP_START", 50000),
            rtc_udp_end=env_int("DEVSTACK_RTC_UDP_END", 50100),
            sip=env_int("DEVSTACK_SIP_PORT", 5060),
            rtp_start=env_int("DEVSTACK_RTP_START", 10000),
            rtp_end=env_int("DEVSTACK_RTP_END", 10100),
            sip_health=env_int("DEVSTACK_SIP_HEALTH_PORT", 8089),
        )
        if p.rtc_udp_end <= p.rtc_udp_start or p.rtp_end <= p.rtp_start:
            die("port ranges must have end > start")
        return p


def log(msg: str) -> None:
    print(f"devstack: {msg}", flush=True)


def die(msg: str, code: int = 1) -> NoReturn:
    print(f"devstack: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[Any]:
    return subprocess.run(cmd, check=False, **kw)

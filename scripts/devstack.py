#!/usr/bin/env python3
"""callcrew devstack: Redis + livekit-server (+ livekit-sip when a binary is given) on loopback.

Python standard library only. Run through the `scripts/devstack` wrapper; see docs/devstack.md.

livekit-server is built from the Go module proxy's copy of its source. livekit-sip is not served
by the module proxy, so it is never built here: `up` starts it only when a binary is provided
(LIVEKIT_SIP_BIN=/path, or `livekit-sip` on PATH), and runs without it otherwise.

Every socket Redis and livekit-server open is on 127.0.0.1, and nothing is configured to reach
any address outside 127.0.0.0/8 (no public STUN, no external-IP discovery); a given livekit-sip
gets the same through its config file, as far as that reaches (docs/devstack.md).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import string
import sys
import time
from pathlib import Path

# The modules beside this script (devstack_*.py) hold its parts; tests load this file by path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from devstack_build import (
    TOOLS,
    Tool,
    apt_install,
    cmd_install,
    sip_binary,
    tool_is_current,
)
from devstack_common import (
    APT_FOR_REDIS,
    BIND,
    LIVEKIT_SERVER_MODULE,
    LIVEKIT_SERVER_RECIPE,
    LIVEKIT_SERVER_VERSION,
    RUN_ENV,
    SERVICES,
    SIP,
    SIP_LOOPBACK_ONLY,
    SIP_UNAVAILABLE,
    Ports,
    die,
    env_int,
    log,
    netns_id,
    run,
    state_dir,
    tools_dir,
)
from devstack_config import (
    DEFAULT_TARGET_LOAD,
    agent_target_load,
    env_text,
    print_ports,
    write_configs,
)
from devstack_netns import (
    ISOLATED_CLIENT_IP,
    cmd_isolated,
    cmd_isolated_inner,
    isolated,
    non_loopback_ipv4,
)
from devstack_procs import (
    all_healthy,
    has_run_token,
    healthy,
    http_ok,
    load_ports,
    logfile,
    pid_is,
    pidfile,
    port_free,
    read_pid,
    redis_ping,
    start_service,
    started_services,
    stop_all,
    tail,
    wait_healthy,
)


def cmd_up(args: argparse.Namespace) -> None:
    t0 = time.monotonic()
    sd = state_dir()
    sd.mkdir(parents=True, exist_ok=True)
    tools = tools_dir()
    sip = sip_binary()
    sip_reason = SIP_UNAVAILABLE
    if sip and not non_loopback_ipv4():
        log(f"{SIP_LOOPBACK_ONLY} (given: {sip})")
        sip, sip_reason = None, SIP_LOOPBACK_ONLY
    if (sd / "env").is_file() and all_healthy(sd, load_ports(sd)):
        running = started_services(sd)
        log(f"already up (state: {sd})")
        if SIP not in running:
            log(
                "livekit-sip: a binary is given now, but this stack was started without it: "
                "`scripts/devstack down`, then `up`"
                if sip
                else SIP_UNAVAILABLE
            )
        print((sd / "env").read_text(), end="")
        print_ports(load_ports(sd), running)
        return
    if any(read_pid(sd, s) for s in SERVICES):
        log("a previous stack is partly running: stopping it first")
        stop_all(sd, quiet=True)

    redis_bin = shutil.which("redis-server")
    if not redis_bin:
        die("redis-server not found: run scripts/devstack install")
    for t in TOOLS:
        if not (tools / t.name).is_file():
            die(f"{tools / t.name} not found: run scripts/devstack install")
        if not tool_is_current(tools, t):
            log(f"warning: {t.name} was built from another pin; run scripts/devstack install")
    services = SERVICES[:2] + ([SIP] if sip else [])

    p = Ports.from_env()
    taken = []
    checks = [
        ("redis", p.redis, socket.SOCK_STREAM),
        ("livekit http", p.http, socket.SOCK_STREAM),
        ("livekit ICE/TCP", p.rtc_tcp, socket.SOCK_STREAM),
    ]
    ranges = [(p.rtc_udp_start, p.rtc_udp_end, "livekit ICE udp")]
    if sip:
        checks += [
            ("SIP tcp", p.sip, socket.SOCK_STREAM),
            ("SIP udp", p.sip, socket.SOCK_DGRAM),
            ("sip health", p.sip_health, socket.SOCK_STREAM),
        ]
        ranges.append((p.rtp_start, p.rtp_end, "SIP RTP"))
    for name, port, kind in checks:
        if not port_free(port, kind):
            taken.append(f"{name} {port}")
    if taken:
        die(
            f"port(s) already in use on {BIND}: {', '.join(taken)} "
            "(set DEVSTACK_*_PORT to move them; see docs/devstack.md)"
        )
    for lo, hi, what in ranges:
        busy = [q for q in range(lo, hi + 1) if not port_free(q, socket.SOCK_DGRAM)]
        if len(busy) > (hi - lo + 1) // 2:
            die(f"most of the {what} range {lo}-{hi} is in use")
        if busy:
            log(f"warning: {len(busy)} port(s) of the {what} range are in use")

    alphabet = string.ascii_letters + string.digits
    key = "API" + "".join(secrets.choice(alphabet) for _ in range(12))
    secret = "".join(secrets.choice(alphabet) for _ in range(44))
    for svc in SERVICES:
        pidfile(sd, svc).unlink(missing_ok=True)
    (sd / "env").unlink(missing_ok=True)
    token = secrets.token_hex(8)
    write_configs(sd, p, key, secret, sip=bool(sip), run_token=token)
    (sd / "ports.json").write_text(json.dumps(p.__dict__, indent=1) + "\n")
    (sd / "services.json").write_text(
        json.dumps({"services": services, "sip_bin": str(sip) if sip else None}, indent=1) + "\n"
    )
    timeout = float(os.environ.get("DEVSTACK_TIMEOUT", "30"))

    plan: list[tuple[str, list[str], dict[str, str]]] = [
        ("redis", [redis_bin, str(sd / "redis.conf")], {}),
        (
            "livekit-server",
            [str(tools / "livekit-server"), "--config", str(sd / "livekit.yaml")],
            {"LIVEKIT_RTC_TCP_BIND_IP": BIND},
        ),
    ]
    if sip:
        plan.append((SIP, [str(sip), "--config", str(sd / "sip.yaml")], {}))
        if not isolated():
            log(
                "warning: only the config file's loopback settings reach livekit-sip: upstream, "
                "its health port listens on every interface, RTP binds 0.0.0.0, and its SIP user "
                "agent and WebRTC client use this machine's LAN address (docs/devstack.md)"
            )
    for svc, argv, extra in plan:
        ts = time.monotonic()
        proc = start_service(sd, svc, argv, extra, token)
        wait_healthy(sd, svc, proc, p, timeout)
        log(f"{svc} up (pid {proc.pid}, healthy after {time.monotonic() - ts:.1f} s)")
    if not sip and sip_reason == SIP_UNAVAILABLE:
        log(SIP_UNAVAILABLE)

    (sd / "env").write_text(env_text(p, key, secret, sip=bool(sip), sip_reason=sip_reason))
    (sd / "env").chmod(0o600)
    log(f"stack up in {time.monotonic() - t0:.1f} s; env file: {sd / 'env'}")
    print((sd / "env").read_text(), end="")
    print_ports(p, services)


def cmd_down(args: argparse.Namespace) -> None:
    sd = state_dir()
    if not any(read_pid(sd, s) for s in SERVICES):
        log("nothing running")
    stop_all(sd)


def cmd_status(args: argparse.Namespace) -> None:
    """Exit 0: every service of the stack is healthy (livekit-sip counts only when it was
    started, i.e. a binary was given); 3: none is; 1: some are."""
    sd = state_dir()
    p = load_ports(sd)
    running = any(read_pid(sd, s) for s in SERVICES)
    expected = started_services(sd) if running else SERVICES[:2]
    n_ok = 0
    for svc in SERVICES:
        pid = read_pid(sd, svc)
        if svc not in expected and pid is None:
            where = sip_binary()
            print(
                f"{svc:15s} {'not started':20s} (a binary is given: {where}; "
                "`down`, then `up` to start it)"
                if where
                else f"{svc:15s} not available (github.com/livekit/sip is not served by the Go "
                "module proxy here; give a binary with LIVEKIT_SIP_BIN=/path)"
            )
            continue
        ok = bool(pid) and healthy(svc, p)
        n_ok += ok
        print(
            f"{svc:15s} {'healthy' if ok else ('running, unhealthy' if pid else 'down'):20s}"
            f" pid={pid or '-'}  log={logfile(sd, svc)}"
        )
    print(f"state: {sd}")
    sys.exit(0 if n_ok == len(expected) else (3 if n_ok == 0 else 1))


def cmd_logs(args: argparse.Namespace) -> None:
    sd = state_dir()
    svcs = [args.service] if args.service else SERVICES
    for svc in svcs:
        if svc not in SERVICES:
            die(f"unknown service {svc!r}; one of {', '.join(SERVICES)}")
        if svc == SIP and not logfile(sd, svc).exists():
            if args.service:
                print(SIP_UNAVAILABLE)
            continue
        print(f"==== {logfile(sd, svc)}")
        print(tail(logfile(sd, svc), args.lines))


def cmd_env(args: argparse.Namespace) -> None:
    f = state_dir() / "env"
    if not f.is_file():
        die("stack is not up (no env file): run scripts/devstack up", code=3)
    print(f.read_text(), end="")


def main() -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `scripts/devstack env | head` is fine
    ap = argparse.ArgumentParser(
        prog="scripts/devstack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("install", help="build/install the pinned livekit-server and redis")
    i.add_argument("--force", action="store_true", help="rebuild even if up to date")
    i.set_defaults(fn=cmd_install)
    sub.add_parser("up", help="start the stack and wait until healthy").set_defaults(fn=cmd_up)
    sub.add_parser("down", help="stop the stack").set_defaults(fn=cmd_down)
    sub.add_parser(
        "status", help="show service health (exit 0 all up, 3 down, 1 partial)"
    ).set_defaults(fn=cmd_status)
    lg = sub.add_parser("logs", help="print the tail of the service logs")
    lg.add_argument("service", nargs="?")
    lg.add_argument("-n", "--lines", type=int, default=50)
    lg.set_defaults(fn=cmd_logs)
    sub.add_parser("env", help="print the env file of the running stack").set_defaults(fn=cmd_env)
    iso = sub.add_parser(
        "isolated",
        help="run a command in a private network namespace with only loopback "
        "(e.g. `scripts/devstack isolated -- .venv/bin/pytest tests/e2e -m e2e`)",
    )
    iso.add_argument("command", nargs=argparse.REMAINDER)
    iso.set_defaults(fn=cmd_isolated)
    inner = sub.add_parser("_isolated-inner", help=argparse.SUPPRESS)
    inner.add_argument("command", nargs=argparse.REMAINDER)
    inner.set_defaults(fn=cmd_isolated_inner)
    args = ap.parse_args()
    args.fn(args)


# Tests and tools load this file by path and use its parts by these names.
__all__ = [
    "APT_FOR_REDIS",
    "BIND",
    "DEFAULT_TARGET_LOAD",
    "ISOLATED_CLIENT_IP",
    "LIVEKIT_SERVER_MODULE",
    "LIVEKIT_SERVER_RECIPE",
    "LIVEKIT_SERVER_VERSION",
    "RUN_ENV",
    "SERVICES",
    "SIP",
    "SIP_LOOPBACK_ONLY",
    "SIP_UNAVAILABLE",
    "TOOLS",
    "Ports",
    "Tool",
    "agent_target_load",
    "all_healthy",
    "apt_install",
    "cmd_install",
    "cmd_isolated",
    "cmd_isolated_inner",
    "die",
    "env_int",
    "env_text",
    "has_run_token",
    "healthy",
    "http_ok",
    "isolated",
    "load_ports",
    "log",
    "logfile",
    "netns_id",
    "non_loopback_ipv4",
    "pid_is",
    "pidfile",
    "port_free",
    "print_ports",
    "read_pid",
    "redis_ping",
    "run",
    "sip_binary",
    "start_service",
    "started_services",
    "state_dir",
    "stop_all",
    "tail",
    "tool_is_current",
    "tools_dir",
    "wait_healthy",
    "write_configs",
]

if __name__ == "__main__":
    main()

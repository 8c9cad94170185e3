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
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
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


# =============================================================================================
# install
# =============================================================================================
_apt_updated = False


def sudo_prefix() -> list[str]:
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo"):
        return ["sudo", "-n"]
    return []


def apt_install(pkgs: list[str]) -> None:
    global _apt_updated
    missing = [
        p
        for p in pkgs
        if run(
            ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True
        ).stdout.strip()
        != "install ok installed"
    ]
    if not missing:
        return
    if not shutil.which("apt-get"):
        die(f"missing system packages {missing} and no apt-get here: install them by hand")
    if os.geteuid() != 0 and not shutil.which("sudo"):
        die(f"missing system packages {missing}: run as root or install them by hand")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        log("apt-get update")
        r = run([*sudo_prefix(), "apt-get", "update", "-qq"], env=env)
        if r.returncode != 0:
            die("apt-get update failed")
        _apt_updated = True
    log(f"apt-get install {' '.join(missing)}")
    t0 = time.monotonic()
    r = run(
        [*sudo_prefix(), "apt-get", "install", "-y", "-qq", *missing],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    if r.returncode != 0:
        die(f"apt-get install {' '.join(missing)} failed")
    log(f"  installed in {time.monotonic() - t0:.0f} s")


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    # -mod=mod: we edit go.mod (dropped replaces, local replaces), let go fix go.sum.
    env["GOFLAGS"] = "-mod=mod -buildvcs=false"
    env.setdefault("GOTOOLCHAIN", "local")
    env.setdefault("CGO_ENABLED", "1")
    return env


def need_go() -> str:
    go = shutil.which("go")
    if not go:
        die("Go is not installed (need Go 1.26+; `go` not on PATH)")
    out = run([go, "version"], capture_output=True, text=True).stdout.strip()
    m = re.search(r"go(\d+)\.(\d+)", out)
    if m and (int(m.group(1)), int(m.group(2))) < (1, 26):
        die(f"need Go 1.26 or newer, found: {out}")
    return go


def go_mod_download(mod_at_version: str) -> Path:
    r = run(
        ["go", "mod", "download", "-json", mod_at_version],
        capture_output=True,
        text=True,
        env=go_env(),
        cwd=tempfile.gettempdir(),
    )
    try:
        info = json.loads(r.stdout)
    except json.JSONDecodeError:
        info = {}
    if r.returncode != 0 or not info.get("Dir"):
        die(f"go mod download {mod_at_version} failed:\n{info.get('Error') or r.stderr}")
    return Path(info["Dir"])


def copy_writable(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    for root, dirs, files in os.walk(dst):
        for n in dirs + files:
            p = Path(root) / n
            p.chmod(p.stat().st_mode | 0o200)
    dst.chmod(dst.stat().st_mode | 0o200)


def patch_file(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    n = text.count(old)
    if n != count:
        die(f"patch failed: expected {count} occurrence(s) of {old!r} in {path}, found {n}")
    path.write_text(text.replace(old, new))


def go_build(src: Path, pkg: str, out: Path, logfile: Path, ldflags: str = "") -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(out.name + ".tmp")
    cmd = ["go", "build", "-trimpath", "-o", str(tmp_out)]
    if ldflags:
        cmd += ["-ldflags", ldflags]
    cmd.append(pkg)
    with logfile.open("a") as lf:
        lf.write(f"$ (cd {src} && {' '.join(cmd)})\n")
        lf.flush()
        r = run(cmd, cwd=src, env=go_env(), stdout=lf, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        tail = "".join(logfile.read_text().splitlines(keepends=True)[-30:])
        die(f"go build {pkg} failed (log: {logfile}):\n{tail}")
    tmp_out.replace(out)


# --- livekit-server ---------------------------------------------------------------------------
MTU_BIND_GO = """// Added by callcrew's scripts/devstack: bind the ICE/TCP listener to one address
// (LIVEKIT_RTC_TCP_BIND_IP) instead of every interface.
package rtcconfig

import (
\t"net"
\t"os"
)

func callcrewTCPBindIP() net.IP {
\treturn net.ParseIP(os.Getenv("LIVEKIT_RTC_TCP_BIND_IP"))
}
"""


def build_livekit_server(tools: Path, build_root: Path, logfile: Path) -> None:
    src = build_root / "livekit-server"
    log(f"  go mod download {LIVEKIT_SERVER_MODULE}@{LIVEKIT_SERVER_VERSION}")
    copy_writable(go_mod_download(f"{LIVEKIT_SERVER_MODULE}@{LIVEKIT_SERVER_VERSION}"), src)

    # 1. `go install ...@version` refuses this module (its go.mod has replace directives), and
    #    the replacements (livekit's pion forks webrtc-pion/ice/dtls "-warp" versions) are not
    #    served by the module proxy: drop them and build against upstream pion.
    gomod = src / "go.mod"
    text = gomod.read_text()
    text, n = re.subn(
        r"^replace github\.com/pion/(webrtc/v4|dtls/v3|ice/v4) => .*$\n?", "", text, flags=re.M
    )
    if n != 3:
        die(f"expected 3 pion replace directives in livekit-server go.mod, found {n}")
    gomod.write_text(text)
    # 2. The only fork-only API used: the optional "warp" transport tweaks.
    tr = src / "pkg" / "rtc" / "transport.go"
    patch_file(tr, "\t\tse.EnableSped(true)\n", "\t\t// EnableSped: livekit pion fork only\n")
    patch_file(
        tr, "\t\tse.EnableSctpSnap(true)\n", "\t\t// EnableSctpSnap: livekit pion fork only\n"
    )

    # 3. rtc.tcp_port always listens on every interface; make it bindable to 127.0.0.1.
    m = re.search(r"^\s*github\.com/livekit/mediatransportutil (\S+)", text, flags=re.M)
    if not m:
        die("mediatransportutil not found in livekit-server go.mod")
    mtu = src / "_mediatransportutil"
    copy_writable(go_mod_download(f"github.com/livekit/mediatransportutil@{m.group(1)}"), mtu)
    wc = mtu / "pkg" / "rtcconfig" / "webrtc_config.go"
    patch_file(
        wc,
        'tcpListener, err = net.ListenTCP("tcp", &net.TCPAddr{\n',
        'tcpListener, err = net.ListenTCP("tcp", &net.TCPAddr{\n\t\t\tIP: callcrewTCPBindIP(),\n',
    )
    (mtu / "pkg" / "rtcconfig" / "callcrew_bind.go").write_text(MTU_BIND_GO)
    r = run(
        [
            "go",
            "mod",
            "edit",
            "-replace=github.com/livekit/mediatransportutil=./_mediatransportutil",
        ],
        cwd=src,
        env=go_env(),
    )
    if r.returncode != 0:
        die("go mod edit failed")

    log("  go build ./cmd/server (first time: several minutes on 2 cores)")
    go_build(src, "./cmd/server", tools / "livekit-server", logfile)


@dataclass
class Tool:
    name: str
    stamp: str
    build: Callable[[Path, Path, Path], None]


TOOLS = [
    Tool(
        "livekit-server",
        f"{LIVEKIT_SERVER_MODULE} {LIVEKIT_SERVER_VERSION} {LIVEKIT_SERVER_RECIPE}",
        build_livekit_server,
    ),
]


def tool_is_current(tools: Path, t: Tool) -> bool:
    binary, stamp = tools / t.name, tools / f"{t.name}.version"
    return binary.is_file() and stamp.is_file() and stamp.read_text().strip() == t.stamp


def cmd_install(args: argparse.Namespace) -> None:
    t_all = time.monotonic()
    tools = tools_dir()
    tools.mkdir(parents=True, exist_ok=True)
    if not shutil.which("redis-server"):
        apt_install(APT_FOR_REDIS)
    todo = [t for t in TOOLS if args.force or not tool_is_current(tools, t)]
    for t in TOOLS:
        if t not in todo:
            log(f"{t.name}: up to date ({t.stamp}) in {tools}")
    if todo:
        need_go()
    for t in todo:
        log(f"{t.name}: building {t.stamp}")
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"devstack-build-{t.name}-") as bd:
            logfile = tools / f"{t.name}.build.log"
            logfile.write_text("")
            (tools / f"{t.name}.version").unlink(missing_ok=True)
            t.build(tools, Path(bd), logfile)
        (tools / f"{t.name}.version").write_text(t.stamp + "\n")
        log(f"{t.name}: built in {time.monotonic() - t0:.0f} s -> {tools / t.name}")
    sip = sip_binary()
    log(f"livekit-sip: will run {sip}" if sip else SIP_UNAVAILABLE)
    log(f"install done in {time.monotonic() - t_all:.0f} s (tools: {tools})")


def sip_binary() -> Path | None:
    """The livekit-sip binary to run: LIVEKIT_SIP_BIN, else `livekit-sip` on PATH, else None.

    It is never built here (its source is not served by the Go module proxy); a user can install
    LiveKit's release of it on their own machine and point LIVEKIT_SIP_BIN at it.
    """
    given = os.environ.get("LIVEKIT_SIP_BIN", "").strip()
    if given:
        p = Path(given).expanduser()
        if not (p.is_file() and os.access(p, os.X_OK)):
            die(f"LIVEKIT_SIP_BIN={given} is not an executable file")
        return p.resolve()
    found = shutil.which("livekit-sip")
    return Path(found).resolve() if found else None


# =============================================================================================
# up / down / status
# =============================================================================================
SERVICES = ["redis", "livekit-server", "livekit-sip"]
SIP = "livekit-sip"


def pidfile(sd: Path, svc: str) -> Path:
    return sd / f"{svc}.pid"


def logfile(sd: Path, svc: str) -> Path:
    return sd / f"{svc}.log"


RUN_ENV = "CALLCREW_DEVSTACK_RUN"  # each `up` gives its processes a fresh token in this


def read_pid(sd: Path, svc: str) -> int | None:
    """The pid of a service this stack started, if that process is still the one it started.

    The pid file holds `PID PROGRAM TOKEN`. A pid counts only if the process runs PROGRAM (the
    binary's basename: pid reuse), carries `CALLCREW_DEVSTACK_RUN=TOKEN` in its environment (this
    run's token: not another stack's process that happens to share the pid file) and lives in
    our network namespace. Anything unverifiable (an old pid file without a token, an
    environment we may not read) is left alone: we only ever signal our own processes.
    """
    try:
        fields = pidfile(sd, svc).read_text().split()
        pid, program, token = int(fields[0]), fields[1], fields[2]
    except (OSError, ValueError, IndexError):
        return None
    if not pid_is(pid, program) or not has_run_token(pid, token):
        return None
    return pid if netns_id(pid) == netns_id() else None


def has_run_token(pid: int, token: str) -> bool:
    """The process carries `CALLCREW_DEVSTACK_RUN=TOKEN`: in its environment, or in its command
    line (Redis rewrites its process title over argv and environ; its config puts the token in
    the new title, `proc-title-template`)."""
    mark = f"{RUN_ENV}={token}".encode()
    for part in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{part}", "rb") as f:
                words = f.read().replace(b"\0", b" ").split(b" ")
        except OSError:
            continue
        if mark in words:
            return True
    return False


def pid_is(pid: int, program: str) -> bool:
    """True if pid is alive and runs `program` (a binary's or script's basename)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace").split(" ")[0] for a in f.read().split(b"\0")[:2]]
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state == "Z":
        return False
    # argv[1] too: a LIVEKIT_SIP_BIN may be a script (argv[0] is then its interpreter)
    return any(os.path.basename(a).startswith(program) for a in argv if a)


def started_services(sd: Path) -> list[str]:
    """The services the last `up` started (livekit-sip only when a binary was given)."""
    try:
        return list(json.loads((sd / "services.json").read_text())["services"])
    except (OSError, ValueError, KeyError, TypeError):
        return SERVICES[:2] + ([SIP] if pidfile(sd, SIP).exists() else [])


def port_free(port: int, kind: int) -> bool:
    s = socket.socket(socket.AF_INET, kind)
    if kind == socket.SOCK_STREAM:  # like the servers: ignore TIME_WAIT leftovers
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((BIND, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((BIND, port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def http_ok(port: int, path: str = "/") -> bool:
    try:
        with urllib.request.urlopen(f"http://{BIND}:{port}{path}", timeout=2) as r:
            return bool(r.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def healthy(svc: str, p: Ports) -> bool:
    if svc == "redis":
        return redis_ping(p.redis)
    if svc == "livekit-server":
        return http_ok(p.http)
    return http_ok(p.sip_health)


def load_ports(sd: Path) -> Ports:
    f = sd / "ports.json"
    if f.is_file():
        try:
            return Ports(**json.loads(f.read_text()))
        except (TypeError, ValueError):
            pass
    return Ports.from_env()


def tail(path: Path, n: int = 40, width: int = 600) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(x if len(x) <= width else x[:width] + " ..." for x in lines[-n:])


# livekit-server hands a job only to a worker whose load is below its `agents.target_load`
# (default 0.7); the worker's own WORKER_LOAD_THRESHOLD does not change that. Keep the two equal
# (docs/telephony.md): DEVSTACK_AGENT_TARGET_LOAD for a worker started with another threshold.
DEFAULT_TARGET_LOAD = 0.7


def agent_target_load() -> float:
    v = os.environ.get("DEVSTACK_AGENT_TARGET_LOAD", "").strip()
    if not v:
        return DEFAULT_TARGET_LOAD
    try:
        load = float(v)
    except ValueError:
        die(f"DEVSTACK_AGENT_TARGET_LOAD must be a number, got {v!r}")
    if not 0 < load <= 1:
        die(f"DEVSTACK_AGENT_TARGET_LOAD must be in (0, 1], got {v}")
    return load


def write_configs(
    sd: Path, p: Ports, key: str, secret: str, *, sip: bool, run_token: str = ""
) -> None:
    # Redis overwrites its argv and environ with its process title: the run token goes there.
    title = (
        f'proc-title-template "{{title}} {{listen-addr}} {RUN_ENV}={run_token}"\n'
        if run_token
        else ""
    )
    (sd / "redis.conf").write_text(
        f"""# generated by scripts/devstack
bind {BIND}
port {p.redis}
protected-mode yes
save ""
appendonly no
dir {sd}
daemonize no
logfile ""
{title}"""
    )
    (sd / "livekit.yaml").write_text(
        f"""# generated by scripts/devstack: loopback only
port: {p.http}
bind_addresses: ["{BIND}"]
log_level: info
rtc:
  tcp_port: {p.rtc_tcp}           # ICE/TCP; bound to {BIND} via LIVEKIT_RTC_TCP_BIND_IP (patched)
  port_range_start: {p.rtc_udp_start}
  port_range_end: {p.rtc_udp_end}
  use_external_ip: false         # true would ask public STUN servers for our address
  node_ip: {BIND}                # explicit: no interface/STUN discovery, no server-side STUN
  enable_loopback_candidate: true
  interfaces:
    includes: [lo]
  ips:
    includes: ["127.0.0.0/8"]
  use_mdns: false
  stun_servers: ["{BIND}:3478"]  # handed to clients; empty would hand them Google's STUN
turn:
  enabled: false
redis:
  address: {BIND}:{p.redis}
agents:
  target_load: {agent_target_load()}  # = the worker's WORKER_LOAD_THRESHOLD
keys:
  {key}: {secret}
"""
    )
    if not sip:
        (sd / "sip.yaml").unlink(missing_ok=True)
        return
    # Only what the SIP service's config file can do; an upstream binary still listens for health
    # on every interface and binds RTP on 0.0.0.0 (see docs/devstack.md).
    (sd / "sip.yaml").write_text(
        f"""# generated by scripts/devstack: loopback only (as far as the config file reaches)
api_key: {key}
api_secret: {secret}
ws_url: ws://{BIND}:{p.http}
redis:
  address: {BIND}:{p.redis}
sip_port: {p.sip}
sip_port_listen: {p.sip}
listen_ip: {BIND}
use_external_ip: false     # true would ask public STUN servers
nat_1_to_1_ip: {BIND}      # advertised signaling + media address
media_use_external_ip: false
rtp_port: {p.rtp_start}-{p.rtp_end}
health_port: {p.sip_health}
max_cpu_utilization: 1.0   # 2-core dev box: the default 0.9 marks SIP unhealthy during builds/tests
logging:
  level: info
"""
    )


def start_service(
    sd: Path, svc: str, argv: list[str], env_extra: dict[str, str], token: str
) -> subprocess.Popen[bytes]:
    lf = logfile(sd, svc).open("ab")
    lf.write(
        f"\n==== devstack start {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(argv)}\n".encode()
    )
    lf.flush()
    proc = subprocess.Popen(
        argv,
        cwd=sd,
        stdin=subprocess.DEVNULL,
        stdout=lf,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env_extra, RUN_ENV: token},
        start_new_session=True,
    )
    lf.close()
    pidfile(sd, svc).write_text(f"{proc.pid} {os.path.basename(argv[0])} {token}\n")
    return proc


def wait_healthy(
    sd: Path, svc: str, proc: subprocess.Popen[bytes], p: Ports, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(svc, p):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    rc = proc.poll()
    reason = f"exited with code {rc}" if rc is not None else f"not healthy after {timeout:.0f} s"
    print(
        f"devstack: error: {svc} {reason}; last lines of {logfile(sd, svc)}:\n"
        f"{tail(logfile(sd, svc))}",
        file=sys.stderr,
        flush=True,
    )
    stop_all(sd, quiet=True)
    sys.exit(1)


def non_loopback_ipv4() -> bool:
    """True if this network namespace has an IPv4 address outside 127.0.0.0/8."""
    try:
        out = run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
    except OSError:
        return True  # cannot tell: let livekit-sip try
    return any(
        not parts[3].startswith("127.")
        for parts in (line.split() for line in out.splitlines())
        if len(parts) >= 4 and parts[2] == "inet"
    )


def env_text(
    p: Ports, key: str, secret: str, *, sip: bool, sip_reason: str = SIP_UNAVAILABLE
) -> str:
    text = (
        f"LIVEKIT_URL=ws://{BIND}:{p.http}\n"
        f"LIVEKIT_API_KEY={key}\n"
        f"LIVEKIT_API_SECRET={secret}\n"
        f"REDIS_URL=redis://{BIND}:{p.redis}/0\n"
    )
    if sip:
        return text + (
            "DEVSTACK_SIP=running\n"
            f"LIVEKIT_SIP_ADDRESS={BIND}:{p.sip}\n"
            f"LIVEKIT_SIP_HEALTH_URL=http://{BIND}:{p.sip_health}/\n"
        )
    return text + f'DEVSTACK_SIP=unavailable\nDEVSTACK_SIP_REASON="{sip_reason}"\n'


def print_ports(p: Ports, services: list[str]) -> None:
    sip = (
        f"SIP udp+tcp {p.sip}, RTP udp {p.rtp_start}-{p.rtp_end}, health http {p.sip_health}"
        if SIP in services
        else "not running (no binary; see `scripts/devstack status`)"
    )
    print(
        f"ports (all on {BIND}):\n"
        f"  redis            tcp {p.redis}\n"
        f"  livekit-server   http/ws tcp {p.http}, ICE tcp {p.rtc_tcp}, "
        f"ICE udp {p.rtc_udp_start}-{p.rtc_udp_end}\n"
        f"  livekit-sip      {sip}"
    )


def all_healthy(sd: Path, p: Ports) -> bool:
    return all(read_pid(sd, s) and healthy(s, p) for s in started_services(sd))


def isolated() -> bool:
    return os.environ.get("CALLCREW_DEVSTACK_ISOLATED") == "1"


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


def stop_all(sd: Path, quiet: bool = False) -> None:
    timeout = float(os.environ.get("DEVSTACK_STOP_TIMEOUT", "10"))
    for svc in reversed(SERVICES):
        pid = read_pid(sd, svc)
        if pid is None:
            pidfile(sd, svc).unlink(missing_ok=True)
            continue
        program = pidfile(sd, svc).read_text().split()[1:2] or [svc]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_is(pid, program[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        how = "SIGTERM"
        if pid_is(pid, program[0]):
            how = f"SIGKILL (no exit {timeout:.0f} s after SIGTERM)"
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while pid_is(pid, program[0]):
                time.sleep(0.05)
        pidfile(sd, svc).unlink(missing_ok=True)
        if not quiet:
            log(f"{svc} (pid {pid}) stopped by {how}")
    (sd / "env").unlink(missing_ok=True)


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


# =============================================================================================
# isolated: run a command in a private network namespace that has nothing but loopback
# =============================================================================================
ISOLATED_CLIENT_IP = "127.0.0.2"


def cmd_isolated(args: argparse.Namespace) -> None:
    """Re-exec into `unshare --net`, then (inner) set up lo + a veth carrying 127.0.0.2/32."""
    cmd = list(args.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        die("usage: scripts/devstack isolated -- COMMAND [ARGS...]")
    for tool in ("unshare", "ip"):
        if not shutil.which(tool):
            die(f"`{tool}` not found (Debian: util-linux / iproute2)")
    # A state dir of its own per run: two isolated runs at once never share pid files.
    if not os.environ.get("CALLCREW_DEVSTACK_DIR"):
        os.environ["CALLCREW_DEVSTACK_DIR"] = tempfile.mkdtemp(prefix="callcrew-devstack-isolated-")
    unshare = ["unshare", "--net"]
    if os.geteuid() != 0:
        unshare.append("--map-root-user")
    argv = [
        *unshare,
        "--",
        sys.executable,
        str(Path(__file__).resolve()),
        "_isolated-inner",
        "--",
        *cmd,
    ]
    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        die(f"cannot create a network namespace ({e})")


def cmd_isolated_inner(args: argparse.Namespace) -> None:
    cmd = [c for c in args.command]
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    # IPv6 off in this namespace (no link-local addresses on the veth); per-namespace sysctls,
    # written directly so that procps' `sysctl` is not needed.
    for conf in ("all", "default"):
        with contextlib.suppress(OSError):
            Path(f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6").write_text("1\n")
    steps = [
        ["ip", "link", "set", "lo", "up"],
        # WebRTC clients (libwebrtc) never gather candidates on the loopback interface, so give
        # them a 127.0.0.2 on a veth pair that leads nowhere but itself.
        ["ip", "link", "add", "cc0", "type", "veth", "peer", "name", "cc1"],
        ["ip", "addr", "add", f"{ISOLATED_CLIENT_IP}/32", "dev", "cc0"],
        # no multicast: the kernel would announce group memberships (IGMP to 224.0.0.22)
        ["ip", "link", "set", "cc0", "multicast", "off"],
        ["ip", "link", "set", "cc1", "multicast", "off"],
        ["ip", "link", "set", "cc1", "up"],
        ["ip", "link", "set", "cc0", "up"],
    ]
    for step in steps:
        r = run(step, capture_output=True, text=True)
        if r.returncode != 0:
            die(f"network namespace setup failed at `{' '.join(step)}`: {r.stderr.strip()}")
    os.environ["CALLCREW_DEVSTACK_ISOLATED"] = "1"
    log(f"isolated network namespace: lo 127.0.0.1/8, cc0 {ISOLATED_CLIENT_IP}/32, no route out")
    sys.stdout.flush()
    os.execvp(cmd[0], cmd)


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


if __name__ == "__main__":
    main()

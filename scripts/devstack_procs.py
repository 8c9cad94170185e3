"""Supervising the devstack's processes: pid files with run tokens, health, start and stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from devstack_common import (
    BIND,
    RUN_ENV,
    SERVICES,
    SIP,
    Ports,
    log,
    netns_id,
)


def pidfile(sd: Path, svc: str) -> Path:
    return sd / f"{svc}.pid"


def logfile(sd: Path, svc: str) -> Path:
    return sd / f"{svc}.log"


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


def all_healthy(sd: Path, p: Ports) -> bool:
    return all(read_pid(sd, s) and healthy(s, p) for s in started_services(sd))

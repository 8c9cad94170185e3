"""`scripts/devstack isolated`: run a command in a private network namespace with only loopback."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from devstack_common import (
    die,
    log,
    run,
)

ISOLATED_CLIENT_IP = "127.0.0.2"


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


def isolated() -> bool:
    return os.environ.get("CALLCREW_DEVSTACK_ISOLATED") == "1"


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
        str(Path(__file__).resolve().with_name("devstack.py")),  # the CLI
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

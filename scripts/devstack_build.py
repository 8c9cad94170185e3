"""Installing the devstack's tools: redis from apt, livekit-server built with Go (module proxy)."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devstack_common import (
    APT_FOR_REDIS,
    LIVEKIT_SERVER_MODULE,
    LIVEKIT_SERVER_RECIPE,
    LIVEKIT_SERVER_VERSION,
    SIP_UNAVAILABLE,
    die,
    log,
    run,
    tools_dir,
)

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

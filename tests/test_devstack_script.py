"""scripts/devstack never stops someone else's stack, and its server hands jobs to our worker.

A second `isolated` run once SIGTERMed another run's Redis and livekit-server: they shared one
state directory and the pid files in it. Now each network namespace (and each `isolated` run)
has its own state directory, and a pid is signalled only if the process runs the program the pid
file names, carries this run's token in its environment and lives in our network namespace.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from callcrew.settings import Settings

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "devstack.py"


def _module() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("callcrew_devstack_unit", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


devstack = _module()


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A process started the way `up` starts a service, in its own state directory."""
    sd = tmp_path / "ours"
    sd.mkdir()
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    proc = devstack.start_service(sd, "redis", argv, {}, "token-ours")
    deadline = time.monotonic() + 10
    while not devstack.has_run_token(proc.pid, "token-ours") and time.monotonic() < deadline:
        time.sleep(0.02)  # until the child has exec'd (before that it has our environment)
    try:
        yield sd, proc.pid
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _alive(pid: int) -> bool:
    return bool(devstack.pid_is(pid, Path(sys.executable).name))


def test_a_pid_counts_only_with_this_runs_token(sleeper: tuple[Path, int], tmp_path: Path) -> None:
    sd, pid = sleeper
    assert devstack.read_pid(sd, "redis") == pid
    program = Path(sys.executable).name
    other = tmp_path / "theirs"
    other.mkdir()
    for content in (f"{pid} {program} token-theirs\n", f"{pid} {program}\n", f"{pid}\n"):
        # Another run's pid file naming our process (shared dir, pid reuse, an old format).
        (other / "redis.pid").write_text(content)
        assert devstack.read_pid(other, "redis") is None, content
        devstack.stop_all(other, quiet=True)
        assert _alive(pid), f"a pid file saying {content!r} stopped a process not its own"


def test_down_stops_its_own_processes(sleeper: tuple[Path, int]) -> None:
    sd, pid = sleeper
    devstack.stop_all(sd, quiet=True)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    assert not (sd / "redis.pid").exists()


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    r = subprocess.run(
        ["unshare", "--net", "--map-root-user", "true"], capture_output=True, check=False
    )
    return r.returncode == 0


needs_unshare = pytest.mark.skipif(
    not _can_unshare(), reason="unshare --net --map-root-user is not permitted here"
)


def _state_line(argv: list[str], env: dict[str, str]) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=False).stdout
    return next(line for line in out.splitlines() if line.startswith("state: "))


@needs_unshare
def test_each_network_namespace_has_its_own_state_dir() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CALLCREW_DEVSTACK_DIR"}
    here = _state_line([sys.executable, str(SCRIPT), "status"], env)
    there = _state_line(
        ["unshare", "--net", "--map-root-user", sys.executable, str(SCRIPT), "status"], env
    )
    assert here != there
    assert there.startswith("state: /tmp/callcrew-devstack-net")


@needs_unshare
def test_each_isolated_run_gets_a_fresh_state_dir() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CALLCREW_DEVSTACK_DIR"}
    echo = ["sh", "-c", "echo $CALLCREW_DEVSTACK_DIR"]
    argv = [sys.executable, str(SCRIPT), "isolated", "--", *echo]
    dirs = []
    for _ in range(2):
        out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout
        dirs.append(out.strip().splitlines()[-1])
    try:
        assert dirs[0] != dirs[1]
        assert all(Path(d).is_dir() and "callcrew-devstack-isolated-" in d for d in dirs)
    finally:
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def test_the_servers_target_load_matches_the_workers_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """livekit-server drops jobs for a worker at or above agents.target_load: livekit.yaml and
    the devstack set it to the worker's default WORKER_LOAD_THRESHOLD, or to the figure given."""
    shipped = yaml.safe_load((REPO / "livekit.yaml").read_text())
    assert shipped["agents"]["target_load"] == Settings().worker_load_threshold
    monkeypatch.delenv("DEVSTACK_AGENT_TARGET_LOAD", raising=False)
    devstack.write_configs(tmp_path, devstack.Ports.from_env(), "K", "S", sip=False)
    generated = yaml.safe_load((tmp_path / "livekit.yaml").read_text())
    assert generated["agents"] == shipped["agents"]
    monkeypatch.setenv("DEVSTACK_AGENT_TARGET_LOAD", "1.0")
    devstack.write_configs(tmp_path, devstack.Ports.from_env(), "K", "S", sip=False)
    assert yaml.safe_load((tmp_path / "livekit.yaml").read_text())["agents"]["target_load"] == 1.0


@needs_unshare
def test_a_given_sip_binary_is_not_started_on_loopback_only_and_says_why() -> None:
    """livekit-sip v1.11.0 exits ("server not connected to any network") where the only
    interfaces are loopback: the devstack does not start it there, and the e2e `sip` fixture
    skips with this reason instead of the "not on the module proxy" one."""
    probe = (
        "import importlib.util as u, sys; "
        f"s = u.spec_from_file_location('d', {str(SCRIPT)!r}); m = u.module_from_spec(s); "
        "sys.modules['d'] = m; s.loader.exec_module(m); print(m.non_loopback_ipv4())"
    )
    inside = subprocess.run(
        ["unshare", "--net", "--map-root-user", sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert inside == "False"
    text = devstack.env_text(
        devstack.Ports.from_env(), "K", "S", sip=False, sip_reason=devstack.SIP_LOOPBACK_ONLY
    )
    assert "DEVSTACK_SIP=unavailable" in text
    assert "server not connected to any network" in text


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_redis_keeps_its_run_token_after_renaming_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis rewrites its process title over its argv and environment, which would hide the
    token: its config puts the token into the new title, so `down` still finds it (and only
    it)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DEVSTACK_REDIS_PORT", str(port))
    ports = devstack.Ports.from_env()
    devstack.write_configs(tmp_path, ports, "K", "S", sip=False, run_token="t0k")
    argv = [shutil.which("redis-server") or "", str(tmp_path / "redis.conf")]
    proc = devstack.start_service(tmp_path, "redis", argv, {}, "t0k")
    try:
        deadline = time.monotonic() + 10
        while not devstack.redis_ping(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert devstack.redis_ping(port)
        assert devstack.read_pid(tmp_path, "redis") == proc.pid
        devstack.stop_all(tmp_path, quiet=True)
        assert proc.wait(10) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

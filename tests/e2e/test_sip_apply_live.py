"""`callcrew sip apply` against the real livekit-server: creates, then a second run is a no-op.

Trunks and dispatch rules live in livekit-server's Redis, so this needs no SIP service.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Devstack

pytestmark = pytest.mark.e2e

SIP_YAML = Path(__file__).resolve().parents[2] / "sip.yaml"


def apply(devstack: Devstack, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LIVEKIT_URL": devstack.url,
        "LIVEKIT_API_KEY": devstack.api_key,
        "LIVEKIT_API_SECRET": devstack.api_secret,
        "TWILIO_SIP_PASSWORD": "e2e-password-not-printed",
        "SIP_CONFIG": str(SIP_YAML),
    }
    callcrew = Path(sys.executable).with_name("callcrew")
    return subprocess.run(
        [str(callcrew), "sip", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sip_apply_twice_on_the_real_server(devstack: Devstack, tmp_path: Path) -> None:
    dry = apply(devstack, tmp_path, "apply", "--dry-run", "--prune")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    first = apply(devstack, tmp_path, "apply", "--prune")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "twilio-inbound" in first.stdout and "inbound-calls" in first.stdout
    second = apply(devstack, tmp_path, "apply")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "nothing to change" in second.stdout
    listed = apply(devstack, tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    for name in ("twilio-inbound", "twilio-outbound", "inbound-calls"):
        assert name in listed.stdout
    for out in (dry, first, second, listed):
        assert "e2e-password-not-printed" not in out.stdout + out.stderr

"""`sip apply --dry-run --state` offline, `sip export`, and every problem named in one run."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest

# `stub` is test_sip_apply's fixture (the Twirp stub with LiveKit settings pointing at it).
from tests.test_sip_apply import CONFIG, PASSWORDS, no_secrets, sip, stub  # noqa: F401
from tests.twirp_stub import TwirpStub

pytestmark = pytest.mark.unit


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """sip.yaml and its passwords, and no LiveKit server or settings at all."""
    for k, v in PASSWORDS.items():
        monkeypatch.setenv(k, v)
    path = tmp_path / "sip.yaml"
    path.write_text(dedent(CONFIG))
    return path


def test_dry_run_against_an_empty_livekit_needs_no_server(offline: Path) -> None:
    code, out = sip("apply", "--dry-run", "--state", "empty")
    assert code == 0, out
    assert 'create inbound trunk "carrier-in"' in out
    assert "dry run against an empty LiveKit: would create 4, update 0, delete 0" in out
    assert "note: the real `sip apply` also needs LIVEKIT_URL is not set" in out
    no_secrets(out)


def test_export_then_plan_offline_against_it(stub: TwirpStub, tmp_path: Path) -> None:  # noqa: F811
    assert sip("apply")[0] == 0
    saved = tmp_path / "livekit-sip.json"
    code, out = sip("export", "--out", str(saved))
    assert code == 0, out
    text = saved.read_text()
    no_secrets(text)
    data = json.loads(text)
    assert [t["name"] for t in data["inbound_trunks"]] == ["carrier-in", "telnyx-in"]
    assert all("auth_password" not in t for t in data["outbound_trunks"])
    calls = len(stub.calls)
    code, out = sip("apply", "--dry-run", "--state", str(saved))
    assert code == 0, out
    assert "nothing to change: LiveKit matches sip.yaml" in out  # passwords via fingerprints
    assert len(stub.calls) == calls  # offline: the server was not asked
    (tmp_path / "sip.yaml").write_text(
        dedent(CONFIG).replace("sip.example.com", "sip2.example.com")
    )
    code, out = sip("apply", "--dry-run", "--state", str(saved))
    assert code == 0
    assert "address: sip.example.com -> sip2.example.com" in out
    assert "would create 0, update 1, delete 0" in out


def test_every_problem_is_reported_in_one_run(
    offline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELNYX_SIP_PASSWORD")
    monkeypatch.delenv("CARRIER_SIP_PASSWORD")
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps(
            {
                "inbound_trunks": [{"name": "ok"}, {"name": "bad", "numbers": 5}],
                "dispatch_rules": "nope",
                "extra": 1,
            }
        )
    )
    code, out = sip("apply", "--dry-run", "--state", str(state))
    assert code == 2
    assert "5 problem(s)" in out
    assert "TELNYX_SIP_PASSWORD (used by inbound trunk telnyx-in)" in out
    assert "CARRIER_SIP_PASSWORD (used by outbound trunk carrier-out)" in out
    assert f"{state}: unknown keys extra" in out
    assert f"{state}: inbound_trunks[1]:" in out
    assert f"{state}: dispatch_rules: expected a list" in out


def test_the_plan_is_shown_even_when_secrets_are_missing(
    offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CARRIER_SIP_PASSWORD")
    code, out = sip("apply", "--dry-run", "--state", "empty")
    assert code == 2
    assert "would create 4" in out and "CARRIER_SIP_PASSWORD" in out
    no_secrets(out)


def test_a_bad_file_and_missing_state_file_are_named_together(offline: Path) -> None:
    offline.write_text(CONFIG.replace("+15550100001", "555"))
    code, out = sip("apply", "--dry-run", "--state", "missing.json")
    assert code == 2
    assert "is not an E.164 number" in out
    assert "missing.json: cannot read it" in out


def test_online_apply_names_settings_and_secrets_together(
    offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELNYX_SIP_PASSWORD")
    code, out = sip("apply")
    assert code == 2
    assert "TELNYX_SIP_PASSWORD" in out and "LIVEKIT_URL is not set" in out


def test_state_goes_only_with_dry_run(offline: Path) -> None:
    code, out = sip("apply", "--state", "empty")
    assert code == 2 and "--dry-run" in out


def test_export_needs_livekit_settings() -> None:
    code, out = sip("export")
    assert code == 2 and "LIVEKIT_URL" in out

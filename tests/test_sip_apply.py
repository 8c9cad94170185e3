"""`callcrew sip apply | list` against the local Twirp stub, through livekit-api's real client."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import aiohttp
import pytest
from livekit import api
from typer.testing import CliRunner

from callcrew.cli import app
from tests.twirp_stub import API_KEY, API_SECRET, TwirpFailure, TwirpStub, stub_in_thread

pytestmark = pytest.mark.unit
runner = CliRunner()

CONFIG = """
inbound_trunks:
  - name: carrier-in
    numbers: ["+15550100000"]
    allowed_addresses: [192.0.2.0/30]
  - name: telnyx-in
    numbers: ["+15550100001"]
    auth: {username: callcrew, password_env: TELNYX_SIP_PASSWORD}
outbound_trunks:
  - name: carrier-out
    address: sip.example.com
    transport: tcp
    numbers: ["+15550100000"]
    auth: {username: callcrew, password_env: CARRIER_SIP_PASSWORD}
dispatch_rules:
  - name: inbound
    trunks: [carrier-in, telnyx-in]
    metadata: {source: test}
"""

PASSWORDS = {"TELNYX_SIP_PASSWORD": "telnyx-pw-123", "CARRIER_SIP_PASSWORD": "carrier-pw-456"}


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TwirpStub]:
    with stub_in_thread() as s:
        monkeypatch.setenv("LIVEKIT_URL", s.url.replace("http://", "ws://"))
        monkeypatch.setenv("LIVEKIT_API_KEY", API_KEY)
        monkeypatch.setenv("LIVEKIT_API_SECRET", API_SECRET)
        for k, v in PASSWORDS.items():
            monkeypatch.setenv(k, v)
        (tmp_path / "sip.yaml").write_text(dedent(CONFIG))
        yield s


def sip(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["sip", *args])
    return result.exit_code, result.output


def no_secrets(output: str) -> None:
    for pw in PASSWORDS.values():
        assert pw not in output


def test_apply_creates_everything_then_a_second_apply_changes_nothing(stub: TwirpStub) -> None:
    code, out = sip("apply")
    assert code == 0, out
    assert '+ create inbound trunk "carrier-in"' in out
    assert '+ create inbound trunk "telnyx-in"' in out
    assert '+ create outbound trunk "carrier-out"' in out
    assert '+ create dispatch rule "inbound"' in out
    assert "auth_password: ****" in out
    assert "applied: 4 created, 0 updated, 0 deleted" in out
    no_secrets(out)

    (rule,) = stub.rules.values()
    ids = {t.name: t.sip_trunk_id for t in stub.inbound.values()}
    assert sorted(rule.trunk_ids) == sorted(ids.values())
    assert rule.rule.dispatch_rule_individual.room_prefix == "call-in-"
    (agent,) = rule.room_config.agents
    assert agent.agent_name == "callcrew"
    assert json.loads(agent.metadata) == {"source": "test"}
    (out_trunk,) = stub.outbound.values()
    assert out_trunk.auth_password == PASSWORDS["CARRIER_SIP_PASSWORD"]
    assert out_trunk.transport == api.SIPTransport.SIP_TRANSPORT_TCP
    # Every request went out as protobuf, as livekit-api sends it.
    assert {c.content_type for c in stub.calls} == {"application/protobuf"}

    writes = stub.writes()
    code, out = sip("apply")
    assert code == 0, out
    assert out.strip() == "nothing to change: LiveKit matches sip.yaml"
    assert stub.writes() == writes


def test_dry_run_changes_nothing(stub: TwirpStub) -> None:
    code, out = sip("apply", "--dry-run")
    assert code == 0, out
    assert '+ create outbound trunk "carrier-out"' in out
    assert "dry run: would create 4, update 0, delete 0; nothing changed" in out
    assert stub.writes() == []
    assert not stub.inbound and not stub.outbound and not stub.rules


def test_a_changed_field_is_updated_in_place_keeping_unmanaged_fields(
    stub: TwirpStub, tmp_path: Path
) -> None:
    assert sip("apply")[0] == 0
    trunk = next(t for t in stub.inbound.values() if t.name == "carrier-in")
    trunk.krisp_enabled = True  # set outside sip.yaml, e.g. in the LiveKit dashboard
    trunk_id = trunk.sip_trunk_id
    cfg = tmp_path / "sip.yaml"
    cfg.write_text(cfg.read_text().replace("192.0.2.0/30", "198.51.100.7"))

    code, out = sip("apply", "--dry-run")
    assert f'~ update inbound trunk "carrier-in" ({trunk_id})' in out
    assert "allowed_addresses: 192.0.2.0/30 -> 198.51.100.7" in out
    assert "update 1" in out
    assert "UpdateSIPInboundTrunk" not in stub.methods()

    code, out = sip("apply")
    assert code == 0, out
    assert stub.methods("UpdateSIPInboundTrunk") == ["UpdateSIPInboundTrunk"]
    updated = stub.inbound[trunk_id]
    assert list(updated.allowed_addresses) == ["198.51.100.7"]
    assert updated.krisp_enabled  # survived the replace
    assert sip("apply")[1].strip() == "nothing to change: LiveKit matches sip.yaml"


def test_a_changed_password_is_noticed_and_never_shown(
    stub: TwirpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sip("apply")[0] == 0
    monkeypatch.setenv("CARRIER_SIP_PASSWORD", "rotated-pw-789")
    code, out = sip("apply")
    assert code == 0, out
    assert '~ update outbound trunk "carrier-out"' in out
    assert "auth_password: **** -> ****" in out
    assert "rotated-pw-789" not in out
    no_secrets(out)
    (trunk,) = stub.outbound.values()
    assert trunk.auth_password == "rotated-pw-789"


def test_when_livekit_hides_passwords_the_fingerprint_still_tracks_them(
    stub: TwirpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.redact_passwords = True  # as a hosted LiveKit may answer list calls
    assert sip("apply")[0] == 0
    assert sip("apply")[1].strip() == "nothing to change: LiveKit matches sip.yaml"
    monkeypatch.setenv("TELNYX_SIP_PASSWORD", "rotated")
    code, out = sip("apply")
    assert code == 0, out
    assert '~ update inbound trunk "telnyx-in"' in out
    assert "auth_password: **** -> ****" in out
    assert "rotated" not in out
    trunk = next(t for t in stub.inbound.values() if t.name == "telnyx-in")
    assert trunk.auth_password == "rotated"


def test_rule_changes_are_shown_field_by_field(
    stub: TwirpStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sip("apply")[0] == 0
    monkeypatch.setenv("AGENT_NAME", "front-desk")
    cfg = tmp_path / "sip.yaml"
    cfg.write_text(
        cfg.read_text()
        .replace("trunks: [carrier-in, telnyx-in]", "trunks: [carrier-in]\n    room_prefix: in-")
        .replace("{source: test}", "{source: test, lang: en}")
    )
    code, out = sip("apply")
    assert code == 0, out
    assert '~ update dispatch rule "inbound"' in out
    assert "trunks: carrier-in, telnyx-in -> carrier-in" in out
    assert "rule: individual room per call, prefix call-in- -> individual room per call" in out
    assert "agent_name: callcrew -> front-desk" in out
    assert 'metadata: {"source": "test"} -> {"lang": "en", "source": "test"}' in out
    (rule,) = stub.rules.values()
    carrier_in = next(t.sip_trunk_id for t in stub.inbound.values() if t.name == "carrier-in")
    assert list(rule.trunk_ids) == [carrier_in]
    assert rule.room_config.agents[0].agent_name == "front-desk"


def test_items_not_in_the_file_are_deleted_only_with_prune(stub: TwirpStub) -> None:
    assert sip("apply")[0] == 0
    legacy = stub._create_inbound(  # made by hand, long ago
        api.CreateSIPInboundTrunkRequest(
            trunk=api.SIPInboundTrunkInfo(name="legacy", numbers=["+15550109999"])
        )
    )
    assert isinstance(legacy, api.SIPInboundTrunkInfo)
    stub._create_rule(
        api.CreateSIPDispatchRuleRequest(
            dispatch_rule=api.SIPDispatchRuleInfo(
                name="legacy-rule",
                trunk_ids=[legacy.sip_trunk_id],
                rule=api.SIPDispatchRule(
                    dispatch_rule_direct=api.SIPDispatchRuleDirect(room_name="lobby")
                ),
            )
        )
    )
    code, out = sip("apply")
    assert code == 0, out
    assert f'- delete inbound trunk "legacy" ({legacy.sip_trunk_id})' in out
    assert '- delete dispatch rule "legacy-rule"' in out
    assert "run with --prune to delete it" in out
    assert "nothing to change (2 item(s) not in sip.yaml left alone" in out
    assert legacy.sip_trunk_id in stub.inbound

    before = len(stub.calls)
    code, out = sip("apply", "--prune")
    assert code == 0, out
    assert "applied: 0 created, 0 updated, 2 deleted" in out
    deletes = [c.method for c in stub.calls[before:] if c.method.startswith("Delete")]
    assert deletes == ["DeleteSIPDispatchRule", "DeleteSIPTrunk"]  # the rule first
    assert legacy.sip_trunk_id not in stub.inbound
    assert [r.name for r in stub.rules.values()] == ["inbound"]
    assert sip("apply", "--prune")[1].strip() == "nothing to change: LiveKit matches sip.yaml"


def test_missing_secrets_are_all_named_before_livekit_is_contacted(
    stub: TwirpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELNYX_SIP_PASSWORD")
    monkeypatch.delenv("CARRIER_SIP_PASSWORD")
    code, out = sip("apply")
    assert code == 2
    assert "TELNYX_SIP_PASSWORD (used by inbound trunk telnyx-in)" in out
    assert "CARRIER_SIP_PASSWORD (used by outbound trunk carrier-out)" in out
    assert stub.calls == []


def test_literal_password_and_open_trunk_are_refused(stub: TwirpStub, tmp_path: Path) -> None:
    cfg = tmp_path / "sip.yaml"
    cfg.write_text(CONFIG.replace("password_env: CARRIER_SIP_PASSWORD", "password: oops"))
    code, out = sip("apply")
    assert code == 2
    assert "outbound_trunks[0] (carrier-out).auth: password: a literal password" in out
    cfg.write_text(CONFIG.replace("    allowed_addresses: [192.0.2.0/30]\n", ""))
    code, out = sip("apply")
    assert code == 2
    assert "inbound_trunks[0] (carrier-in): this trunk accepts calls from any address" in out
    assert stub.calls == []


def test_unreachable_livekit_is_a_clear_error(
    stub: TwirpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LIVEKIT_URL", f"ws://127.0.0.1:{port}")
    code, out = sip("apply")
    assert code == 1
    assert f"cannot reach LiveKit at ws://127.0.0.1:{port}" in out
    code, out = sip("list")
    assert code == 1
    assert "cannot reach LiveKit" in out


def test_a_wrong_secret_is_a_clear_error(stub: TwirpStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_API_SECRET", "not-the-secret-but-long-enough-for-hs256-0000")
    code, out = sip("apply")
    assert code == 1
    assert "refused the request (unauthenticated" in out
    assert "LIVEKIT_API_SECRET" in out


def test_livekit_settings_are_required(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "sip.yaml").write_text(dedent(CONFIG))
    for k, v in PASSWORDS.items():
        monkeypatch.setenv(k, v)
    code, out = sip("apply")
    assert code == 2
    assert "LIVEKIT_URL is not set" in out
    assert sip("list")[0] == 2


def test_a_server_side_refusal_stops_with_exit_1(stub: TwirpStub) -> None:
    stub.fail["SIP/CreateSIPDispatchRule"] = TwirpFailure(
        "invalid_argument", "conflicting dispatch rules", 400
    )
    code, out = sip("apply")
    assert code == 1
    assert "LiveKit error: invalid_argument: conflicting dispatch rules" in out


def test_list_shows_what_livekit_has_with_passwords_masked(stub: TwirpStub) -> None:
    assert sip("apply")[0] == 0
    code, out = sip("list", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert [t["name"] for t in data["inbound_trunks"]] == ["carrier-in", "telnyx-in"]
    assert data["inbound_trunks"][1]["auth"] == "callcrew / ****"
    assert data["inbound_trunks"][0]["auth"] == "(none)"
    assert data["outbound_trunks"][0]["transport"] == "tcp"
    assert data["dispatch_rules"][0]["trunks"] == ["carrier-in", "telnyx-in"]
    assert all(t["managed"] for t in data["inbound_trunks"])
    no_secrets(out)
    code, out = sip("list")
    assert code == 0
    assert "carrier-out" in out and "sip.example.com" in out and "****" in out
    no_secrets(out)


async def test_the_stub_speaks_twirp_json_too(stub: TwirpStub) -> None:
    """Any Twirp client may send JSON; answers use the proto field names, as Twirp's default."""
    token = api.AccessToken(API_KEY, API_SECRET).with_sip_grants(api.SIPGrants(admin=True)).to_jwt()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        create = await http.post(
            f"{stub.url}/twirp/livekit.SIP/CreateSIPOutboundTrunk",
            headers=headers,
            json={"trunk": {"name": "json", "address": "sip.example.com", "numbers": ["+1555"]}},
        )
        assert create.status == 200
        body = await create.json()
        assert body["sip_trunk_id"].startswith("ST_")
        listed = await http.post(
            f"{stub.url}/twirp/livekit.SIP/ListSIPOutboundTrunk", headers=headers, json={}
        )
        assert (await listed.json())["items"][0]["name"] == "json"
        # camelCase input is accepted as well.
        camel = await http.post(
            f"{stub.url}/twirp/livekit.SIP/DeleteSIPTrunk",
            headers=headers,
            json={"sipTrunkId": body["sip_trunk_id"]},
        )
        assert camel.status == 200
        unauth = await http.post(
            f"{stub.url}/twirp/livekit.SIP/ListSIPOutboundTrunk",
            headers={"Content-Type": "application/json"},
            json={},
        )
        assert unauth.status == 401
        assert (await unauth.json())["code"] == "unauthenticated"

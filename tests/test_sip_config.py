"""sip.yaml: what is accepted, and the refusals a person must be able to act on."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from callcrew.telephony.sip_config import (
    MissingSecretsError,
    SipConfigError,
    environment,
    load_sip_config,
    resolve_secrets,
)

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent

GOOD = """
inbound_trunks:
  - name: carrier-in
    numbers: ["+1 (555) 010-0000"]
    allowed_addresses: [192.0.2.0/30]
  - name: telnyx-in
    numbers: ["+15550100001"]
    auth: {username: callcrew, password_env: TELNYX_SIP_PASSWORD}
outbound_trunks:
  - name: carrier-out
    address: sip.example.com:5061
    transport: tls
    numbers: ["+15550100000"]
    auth: {username: callcrew, password_env: CARRIER_SIP_PASSWORD}
dispatch_rules:
  - name: inbound
    trunks: [carrier-in, telnyx-in]
    metadata: {source: test}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "sip.yaml"
    p.write_text(dedent(text))
    return p


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(SipConfigError) as info:
        load_sip_config(write(tmp_path, text))
    return str(info.value)


def test_a_good_file_loads_with_numbers_normalised(tmp_path: Path) -> None:
    cfg = load_sip_config(write(tmp_path, GOOD))
    assert cfg.inbound_trunks[0].numbers == ["+15550100000"]
    assert cfg.outbound_trunks[0].transport == "tls"
    assert cfg.dispatch_rules[0].room_prefix == "call-in-"
    assert cfg.dispatch_rules[0].agent_name is None  # AGENT_NAME at apply time
    assert cfg.secret_users() == {
        "TELNYX_SIP_PASSWORD": ["inbound trunk telnyx-in"],
        "CARRIER_SIP_PASSWORD": ["outbound trunk carrier-out"],
    }


def test_the_repository_example_is_valid() -> None:
    cfg = load_sip_config(REPO / "sip.yaml")
    assert [t.name for t in cfg.inbound_trunks] == ["twilio-inbound"]
    assert cfg.outbound_trunks[0].auth is not None


def test_a_literal_password_is_refused_naming_file_and_field(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        """
        outbound_trunks:
          - name: carrier-out
            address: sip.example.com
            numbers: ["+15550100000"]
            auth: {username: callcrew, password: hunter2}
        """,
    )
    assert str(tmp_path / "sip.yaml") in text
    assert "outbound_trunks[0] (carrier-out).auth" in text
    assert "literal password is not allowed" in text
    assert "password_env" in text
    assert "hunter2" not in text


def test_a_password_next_to_the_trunk_is_refused_too(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        """
        inbound_trunks:
          - name: in
            numbers: ["+15550100000"]
            allowed_addresses: [192.0.2.1]
            auth_password: hunter2
        """,
    )
    assert "inbound_trunks[0] (in)" in text and "literal password" in text
    assert "hunter2" not in text


def test_an_open_inbound_trunk_is_refused(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        """
        inbound_trunks:
          - name: wide-open
            numbers: ["+15550100000"]
        """,
    )
    assert "inbound_trunks[0] (wide-open)" in text
    assert "any address without auth" in text and "allow_open: true" in text


def test_a_zero_cidr_counts_as_open(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        """
        inbound_trunks:
          - name: zero
            numbers: ["+15550100000"]
            allowed_addresses: [0.0.0.0/0]
        """,
    )
    assert "any address without auth" in text


def test_allow_open_lets_an_open_trunk_through(tmp_path: Path) -> None:
    cfg = load_sip_config(
        write(
            tmp_path,
            """
            inbound_trunks:
              - name: lab
                numbers: ["+15550100000"]
                allow_open: true
            """,
        )
    )
    assert cfg.inbound_trunks[0].allow_open


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        """
        inbound_trunks:
          - name: in
            numbers: ["12"]
            allowed_addresses: [not-an-ip]
        outbound_trunks:
          - name: out
            address: sip:+1555@carrier.example
            numbers: []
            transport: carrier-pigeon
            auth: {username: u, password_env: lower-case}
        dispatch_rules:
          - name: r
            trunks: [missing]
            room_prefix: call-out-
            metadata: {phone_number: "+15550100000"}
            colour: blue
        """,
    )
    for expected in (
        "inbound_trunks[0] (in).numbers",
        "'12' is not an E.164 number",
        "inbound_trunks[0] (in).allowed_addresses",
        "outbound_trunks[0] (out).address",
        "not a SIP URI",
        "outbound_trunks[0] (out).numbers",
        "outbound_trunks[0] (out).transport",
        "outbound_trunks[0] (out).auth.password_env",
        "dispatch_rules[0] (r).room_prefix",
        "dispatch_rules[0] (r).metadata",
        "dispatch_rules[0] (r).colour: unknown field",
    ):
        assert expected in text, expected


def test_rules_must_name_inbound_trunks_of_the_file(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        """
        inbound_trunks:
          - {name: a, numbers: ["+15550100000"], allowed_addresses: [192.0.2.1]}
          - {name: a, numbers: ["+15550100001"], allowed_addresses: [192.0.2.1]}
        dispatch_rules:
          - {name: r, trunks: [b]}
        """,
    )
    assert "inbound trunk names must be unique; repeated: a" in text
    assert "dispatch_rules[0] (r).trunks: no inbound trunk named b" in text


def test_missing_file_and_bad_yaml_are_named(tmp_path: Path) -> None:
    with pytest.raises(SipConfigError, match="file not found"):
        load_sip_config(tmp_path / "nope.yaml")
    text = problems(tmp_path, "inbound_trunks: [\n  - name: x\n bad")
    assert "not valid YAML at line" in text


def test_missing_secrets_are_listed_together(tmp_path: Path) -> None:
    cfg = load_sip_config(write(tmp_path, GOOD))
    with pytest.raises(MissingSecretsError) as info:
        resolve_secrets(cfg, "sip.yaml", {"TELNYX_SIP_PASSWORD": ""})
    assert info.value.names == ["TELNYX_SIP_PASSWORD", "CARRIER_SIP_PASSWORD"]
    assert "CARRIER_SIP_PASSWORD (used by outbound trunk carrier-out)" in str(info.value)
    env = {"TELNYX_SIP_PASSWORD": "a", "CARRIER_SIP_PASSWORD": "b"}
    assert resolve_secrets(cfg, "sip.yaml", env) == env


def test_secrets_come_from_dotenv_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("FROM_DOTENV=s3cret\nSHADOWED=file\n")
    monkeypatch.setenv("SHADOWED", "process")
    env = environment(tmp_path / ".env")
    assert env["FROM_DOTENV"] == "s3cret"
    assert env["SHADOWED"] == "process"


def test_secrets_come_from_dotenv_local_with_dotenv_winning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env.local").write_text("ONLY_LOCAL=a\nBOTH=local\n")
    (tmp_path / ".env").write_text("BOTH=dotenv\n")
    env = environment()
    assert env["ONLY_LOCAL"] == "a"
    assert env["BOTH"] == "dotenv"

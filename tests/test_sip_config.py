"""sip.yaml: what is accepted, and the refusals a person must be able to act on."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
import yaml

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


# --- open-trunk guard: ranges wider than a carrier needs, without auth ----------------------


def _apply_dry_run(tmp_path: Path, addresses: list[str], **extra: object) -> tuple[int, str]:
    from typer.testing import CliRunner

    from callcrew.cli import app

    trunk = {"name": "in", "numbers": ["+15550100000"], "allowed_addresses": addresses, **extra}
    (tmp_path / "wide.yaml").write_text(yaml.safe_dump({"inbound_trunks": [trunk]}))
    env = {"LIVEKIT_URL": "ws://127.0.0.1:1", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s"}
    result = CliRunner().invoke(app, ["sip", "apply", "--dry-run", "-f", "wide.yaml"], env=env)
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(
    ("addresses", "covered"),
    [
        (["0.0.0.0/1", "128.0.0.0/1"], "4,294,967,296 IPv4 addresses (more than a /16"),
        (["10.0.0.0/15"], "131,072 IPv4 addresses"),
        (["::/1", "8000::/1"], "IPv6 ranges as large as a /0 (more than a /48)"),
        (["2001:db8::/32"], "IPv6 ranges as large as a /32 (more than a /48)"),
    ],
)
def test_unauthenticated_trunk_wider_than_a_carrier_is_refused(
    tmp_path: Path, addresses: list[str], covered: str
) -> None:
    code, output = _apply_dry_run(tmp_path, addresses)
    assert code == 2, output
    assert f"allowed_addresses cover {covered}" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "addresses",
    [
        ["54.172.60.0/30", "54.244.51.0/30", "54.171.127.192/30"],  # Twilio-style /30s
        ["192.76.120.0/24", "64.16.250.0/24"],  # Telnyx-style /24s
        ["10.0.0.0/16"],  # exactly the threshold
        ["10.0.0.0/17", "10.0.128.0/17", "10.0.0.0/16"],  # overlaps count once
        ["2600:1f18::/48"],
    ],
)
def test_carrier_sized_ranges_pass_the_guard(addresses: list[str]) -> None:
    from callcrew.telephony.sip_config import InboundTrunk

    trunk = InboundTrunk.model_validate(
        {"name": "in", "numbers": ["+15550100000"], "allowed_addresses": addresses}
    )
    assert trunk.too_wide() is None


def test_wide_ranges_are_fine_with_auth_or_allow_open(tmp_path: Path) -> None:
    from callcrew.telephony.sip_config import InboundTrunk

    wide = ["0.0.0.0/1", "128.0.0.0/1"]
    base = {"name": "in", "numbers": ["+15550100000"], "allowed_addresses": wide}
    InboundTrunk.model_validate({**base, "allow_open": True})
    InboundTrunk.model_validate({**base, "auth": {"username": "u", "password_env": "PW_ENV"}})

"""`callcrew token`: a join token with the right grants, lifetime and agent dispatch."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import jwt
import pytest
from livekit import api
from typer.testing import CliRunner

from callcrew.cli import app
from callcrew.telephony.token import client_url, parse_ttl

pytestmark = pytest.mark.unit
runner = CliRunner()

KEY = "APItokenTest01"
SECRET = "token-test-secret-0123456789-0123456789-abcdef"


@pytest.fixture
def lk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_URL", "wss://callcrew-test.livekit.cloud")
    monkeypatch.setenv("LIVEKIT_API_KEY", KEY)
    monkeypatch.setenv("LIVEKIT_API_SECRET", SECRET)


def token_json(*args: str) -> dict[str, str]:
    result = runner.invoke(app, ["token", "--json", *args])
    assert result.exit_code == 0, result.output
    data: dict[str, str] = json.loads(result.output)
    return data


def test_token_grants_room_join_and_dispatches_the_agent(lk_env: None) -> None:
    before = int(time.time())
    data = token_json("--room", "demo-1", "--identity", "tester", "--ttl", "90m")
    claims = jwt.decode(data["token"], SECRET, algorithms=["HS256"], issuer=KEY)
    assert claims["sub"] == "tester"
    assert claims["video"] == {
        "roomJoin": True,
        "room": "demo-1",
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
    }
    assert "roomAdmin" not in claims["video"] and "roomCreate" not in claims["video"]
    assert claims["roomConfig"] == {"agents": [{"agentName": "callcrew"}]}
    assert before + 90 * 60 - 2 <= claims["exp"] <= int(time.time()) + 90 * 60 + 2
    # LiveKit's own verifier reads it back the same way.
    verified = api.TokenVerifier(KEY, SECRET).verify(data["token"])
    assert verified.video is not None and verified.video.room == "demo-1"
    assert verified.room_config is not None
    assert verified.room_config.agents[0].agent_name == "callcrew"
    assert data["url"] == "wss://callcrew-test.livekit.cloud"
    assert data["playground_url"] == "https://agents-playground.livekit.io"
    assert data["meet_link"].startswith("https://meet.livekit.io/custom?liveKitUrl=wss%3A%2F%2F")


def test_a_wrong_secret_does_not_verify(lk_env: None) -> None:
    data = token_json("--room", "demo")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(data["token"], "another-secret-0123456789-0123456789", algorithms=["HS256"])


def test_the_agent_name_setting_and_a_random_identity(
    lk_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_NAME", "front-desk")
    a, b = token_json("--room", "demo"), token_json("--room", "demo")
    assert a["identity"].startswith("web-") and a["identity"] != b["identity"]
    claims = jwt.decode(a["token"], SECRET, algorithms=["HS256"], issuer=KEY)
    assert claims["roomConfig"]["agents"][0]["agentName"] == "front-desk"
    assert claims["exp"] - claims["nbf"] == 3600  # the default: one hour


def test_plain_output_says_how_to_use_it(lk_env: None) -> None:
    result = runner.invoke(app, ["token", "--room", "demo"])
    assert result.exit_code == 0
    assert "LiveKit URL: wss://callcrew-test.livekit.cloud" in result.output
    assert 'choose "Manual", paste the LiveKit URL and the token' in result.output
    assert "https://agents-playground.livekit.io/" in result.output


def test_token_needs_livekit_settings() -> None:
    result = runner.invoke(app, ["token", "--room", "demo"])
    assert result.exit_code == 2
    for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        assert name in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--room", "demo", "--ttl", "soon"], "not a duration"),
        (["--room", "demo", "--ttl", "3d"], "between 1 minute and 24 hours"),
        (["--room", "bad room!"], "room 'bad room!'"),
    ],
)
def test_bad_arguments_exit_2(lk_env: None, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["token", *args])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("30m", 1800), ("90s", 90), ("1h30m", 5400), ("600", 600), ("1d", 86400)],
)
def test_ttl_parsing(text: str, seconds: int) -> None:
    assert parse_ttl(text) == timedelta(seconds=seconds)


def test_http_urls_become_websocket_urls() -> None:
    assert client_url("http://127.0.0.1:7880") == "ws://127.0.0.1:7880"
    assert client_url("https://x.livekit.cloud") == "wss://x.livekit.cloud"
    assert client_url("ws://127.0.0.1:7880") == "ws://127.0.0.1:7880"

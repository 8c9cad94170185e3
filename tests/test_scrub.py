"""The one scrubber every recorded error goes through."""

from __future__ import annotations

import pytest

from callcrew.scrub import scrub

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Error code: 401 - Incorrect API key provided: Bearer sk-proj-abcdef123456", "sk-proj"),
        ('{"Authorization": "Bearer abcdefgh12345"}', "abcdefgh12345"),
        ("request failed: api_key=deadbeef1234&model=nova-3", "deadbeef1234"),
        ("headers: {'xi-api-key': 'e1e1e1e1e1e1'}", "e1e1e1e1e1e1"),
        ("token: abcdef987654", "abcdef987654"),
        ("could not reach postgresql://app:hunter2@db/calls", "hunter2"),
        # a Redis URL has a password and no user name; the scheme's case does not matter
        ("cannot connect to redis://:hunter2@cache:6379/0", "hunter2"),
        ("could not reach POSTGRES://app:hunter2@db", "hunter2"),
        ("jwt eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.c2lnbmF0dXJlLXBhcnQ", "eyJzdWIi"),
        ("the key sk-live-0123456789abcdef leaked", "sk-live"),
    ],
)
def test_secrets_are_removed(text: str, secret: str) -> None:
    assert secret not in scrub(text)
    assert "[redacted]" in scrub(text)


def test_the_rest_of_the_message_stays_readable() -> None:
    text = "Error code: 500 - The server had an error (request id req_42)"
    assert scrub(text) == text
    assert scrub("Bearer sk-abcdefghij1234 rejected").endswith("rejected")


def test_log_records_are_scrubbed_whatever_logger_they_use(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from callcrew.scrub import install_log_scrubber

    install_log_scrubber()
    install_log_scrubber()  # idempotent
    log = logging.getLogger("livekit.agents")
    # Another test (or LiveKit's CLI) may have raised this logger's own level: set it here.
    with caplog.at_level(logging.WARNING, logger="livekit.agents"):
        log.warning("LLM failed, switching to next LLM: %s", "Bearer sk-leaky-0123456789")
        try:
            raise RuntimeError("401: api_key=sk-leaky-0123456789")
        except RuntimeError:
            log.exception("unexpected error")
    assert "sk-leaky" not in caplog.text
    assert "switching to next LLM: Bearer [redacted]" in caplog.text
    assert "RuntimeError" in caplog.text

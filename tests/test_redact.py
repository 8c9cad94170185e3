"""URL passwords masked wherever text is shown: messages, log records, reports."""

from __future__ import annotations

import logging

import pytest

from callcrew.redact import mask_urls

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgres://admin:PW@host/db", "postgres://admin:***@host/db"),
        (
            "at postgresql+psycopg://u:p%40ss@h:5432/x now",
            "at postgresql+psycopg://u:***@h:5432/x now",
        ),
        (
            "wss://key:secret@lk.example and http://a:b@c",
            "wss://key:***@lk.example and http://a:***@c",
        ),
        ("https://user@host/path", "https://user@host/path"),  # no password: unchanged
        ("sqlite:///var/callcrew.db", "sqlite:///var/callcrew.db"),
        ("no url here: a:b@c", "no url here: a:b@c"),
    ],
)
def test_mask_urls(text: str, masked: str) -> None:
    assert mask_urls(text) == masked


def test_worker_log_records_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    from callcrew.scrub import install_log_scrubber

    install_log_scrubber()
    with caplog.at_level(logging.INFO):
        logging.getLogger("callcrew.test").info("connecting to %s", "postgres://u:PW@h/db")
    assert "PW" not in caplog.text and "postgres://u:" in caplog.text

"""What a call's room carries for a screen: on for web callers, off on a phone line."""

from __future__ import annotations

import pytest

from callcrew.call import Channel
from callcrew.job.session import for_screen
from callcrew.settings import Settings, SettingsError, load_settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("switch", "channel", "on"),
    [
        ("auto", Channel.WEB, True),
        ("auto", Channel.INBOUND, False),
        ("auto", Channel.OUTBOUND, False),
        ("on", Channel.INBOUND, True),
        ("off", Channel.WEB, False),
    ],
)
def test_auto_publishes_for_a_screen_only_to_web_callers(
    switch: str, channel: Channel, on: bool
) -> None:
    assert for_screen(switch, channel) is on


def test_the_defaults_hear_the_caller_at_16_khz_and_keep_the_heard_text_on_a_phone() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.audio_input_rate, s.room_transcription, s.session_host) == (16000, "on", "auto")
    # the transcript synchroniser tells what of an interrupted line was heard: on for a phone
    assert for_screen(s.room_transcription, Channel.INBOUND)
    assert not for_screen(s.session_host, Channel.INBOUND)


def test_a_rate_no_phone_or_stt_path_uses_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIO_INPUT_RATE", "22050")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "AUDIO_INPUT_RATE" in str(err.value)

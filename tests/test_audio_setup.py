"""What an audio rehearsal runs with (simulate/audio/setup.py): it always runs the local
Whisper (a batch STT), so it takes the local stack's turn-taking values unless they were set."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcrew.settings import Settings
from callcrew.simulate.audio.setup import rehearsal_settings, rehearsal_turn_handling
from callcrew.turn_defaults import TURN_DEFAULTS

pytestmark = pytest.mark.unit

TURN_KEYS = list(TURN_DEFAULTS["batch"])


@pytest.fixture(autouse=True)
def _no_turn_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [*TURN_KEYS, "STACK", "STT"]:
        monkeypatch.delenv(key.upper(), raising=False)


def _turn(s: Settings) -> dict[str, object]:
    return {k: getattr(s, k) for k in TURN_KEYS}


def test_a_cloud_stack_rehearses_with_the_batch_values() -> None:
    cloud = Settings(_env_file=None, stack="economy")  # type: ignore[call-arg]
    assert _turn(cloud) == TURN_DEFAULTS["streaming"]  # the call's own: Deepgram streams
    assert cloud.turn_values_given == frozenset()
    rehearsal = rehearsal_settings(cloud)
    assert _turn(rehearsal) == TURN_DEFAULTS["batch"]  # the rehearsal's STT is Whisper
    assert rehearsal.stack == "economy"  # only the turn values change
    handling = rehearsal_turn_handling(rehearsal)
    assert handling["endpointing"]["min_delay"] == TURN_DEFAULTS["batch"]["endpointing_min_delay"]


def test_values_set_explicitly_win(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VAD_MIN_SILENCE", "0.3")  # the environment
    env = tmp_path / ".env"
    env.write_text("ENDPOINTING_MIN_DELAY=0.25\n")  # a .env file
    s = Settings(_env_file=env, stack="premium")  # type: ignore[call-arg]
    assert s.turn_values_given == {"vad_min_silence", "endpointing_min_delay"}
    rehearsal = rehearsal_settings(s)
    assert rehearsal.vad_min_silence == 0.3 and rehearsal.endpointing_min_delay == 0.25
    # the rest is the batch STT's
    assert rehearsal.endpointing_max_delay == TURN_DEFAULTS["batch"]["endpointing_max_delay"]
    assert rehearsal.turn_detection == TURN_DEFAULTS["batch"]["turn_detection"]
    # an argument counts as set too
    arg = Settings(_env_file=None, stack="economy", turn_detection="vad")  # type: ignore[call-arg]
    assert rehearsal_settings(arg).turn_detection == "vad"


def test_a_local_stt_is_left_as_it_is() -> None:
    for s in (
        Settings(_env_file=None, stack="local"),  # type: ignore[call-arg]
        Settings(_env_file=None, stack="economy", stt="local/tiny.en"),  # type: ignore[call-arg]
    ):
        assert _turn(s) == TURN_DEFAULTS["batch"]
        assert rehearsal_settings(s) is s

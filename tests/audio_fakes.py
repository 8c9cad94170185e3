"""Fakes at LiveKit's plugin boundary for audio-path unit tests: no models, no espeak.

- `EnergyVAD`: a `vad.VAD` that calls a frame speech when it is loud (RMS above a threshold),
  with the event stream a real VAD gives (INFERENCE_DONE per frame, START_OF_SPEECH,
  END_OF_SPEECH with the speech frames), so LiveKit's own turn-taking and interruption logic
  run on it;
- `ScriptedSTT`: a non-streaming `stt.STT` that "hears" the next line of a script in each
  segment LiveKit's StreamAdapter hands it;
- `ToneTTS`: a non-streaming `tts.TTS` whose speech is a tone, `SECONDS_PER_CHAR` per character,
  so how much of a sentence was played is a matter of seconds;
- `burst`: a loud stretch of noise, the callee's voice for `CallerMic`.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
from bench.plugin_fakes import RATE, NamedSTT, NamedTTS, start_pcm
from livekit import rtc
from livekit.agents import stt, tts, vad
from livekit.agents.language import LanguageCode
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, APIConnectOptions
from livekit.agents.utils import AudioBuffer

SECONDS_PER_CHAR = 0.02
_ids = itertools.count(1)


def burst(seconds: float, level: float = 6000.0, seed: int = 1) -> np.ndarray[Any, Any]:
    """Loud noise: speech as far as `EnergyVAD` is concerned."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0, level, int(seconds * RATE)), -32768, 32767).astype(np.int16)


class EnergyVAD(vad.VAD):
    def __init__(self, *, threshold: float = 800.0, silence_s: float = 0.3) -> None:
        super().__init__(capabilities=vad.VADCapabilities(update_interval=0.02))
        self.threshold, self.silence_s = threshold, silence_s

    @property
    def model(self) -> str:
        return "energy"

    @property
    def provider(self) -> str:
        return "test"

    def stream(self) -> EnergyVADStream:
        return EnergyVADStream(self)


class EnergyVADStream(vad.VADStream):
    def __init__(self, energy: EnergyVAD) -> None:
        self._energy = energy
        super().__init__(energy)

    async def _main_task(self) -> None:
        threshold, silence_s = self._energy.threshold, self._energy.silence_s
        speaking = False
        frames: list[rtc.AudioFrame] = []
        speech_s = quiet_s = 0.0
        samples = 0
        async for item in self._input_ch:
            if isinstance(item, vad.VADStream._FlushSentinel):
                speaking, frames, speech_s, quiet_s = False, [], 0.0, 0.0
                continue
            pcm = np.frombuffer(item.data, np.int16).astype(np.float64)
            loud = bool(pcm.size) and float(np.sqrt(np.mean(pcm**2))) > threshold
            dur = item.samples_per_channel / item.sample_rate
            samples += item.samples_per_channel
            now = time.time()
            if not speaking and loud:
                speaking, frames, speech_s, quiet_s = True, [item], dur, 0.0
                self._event_ch.send_nowait(
                    vad.VADEvent(
                        type=vad.VADEventType.START_OF_SPEECH,
                        samples_index=samples,
                        timestamp=now,
                        speech_duration=speech_s,
                        silence_duration=0.0,
                        frames=[item],
                        speaking=True,
                    )
                )
            elif speaking:
                frames.append(item)
                if loud:
                    speech_s, quiet_s = speech_s + dur, 0.0
                else:
                    quiet_s += dur
            self._event_ch.send_nowait(
                vad.VADEvent(
                    type=vad.VADEventType.INFERENCE_DONE,
                    samples_index=samples,
                    timestamp=now,
                    speech_duration=speech_s if speaking else 0.0,
                    silence_duration=quiet_s,
                    frames=[item],
                    probability=1.0 if loud else 0.0,
                    speaking=speaking,
                    raw_accumulated_speech=speech_s if speaking else 0.0,
                    raw_accumulated_silence=quiet_s,
                )
            )
            if speaking and quiet_s >= silence_s:
                self._event_ch.send_nowait(
                    vad.VADEvent(
                        type=vad.VADEventType.END_OF_SPEECH,
                        samples_index=samples,
                        timestamp=now,
                        speech_duration=speech_s,
                        silence_duration=quiet_s,
                        frames=frames,
                        speaking=False,
                    )
                )
                speaking, frames, speech_s, quiet_s = False, [], 0.0, 0.0


class ScriptedSTT(NamedSTT):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(
            "scripted",
            "test",
            capabilities=stt.STTCapabilities(
                streaming=False, interim_results=False, offline_recognize=True
            ),
        )
        self.lines = list(lines)
        self.heard: list[str] = []

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: Any = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        text = self.lines.pop(0) if self.lines else ""
        self.heard.append(text)
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=f"scripted-{next(_ids)}",
            alternatives=[stt.SpeechData(language=LanguageCode("en"), text=text)],
        )


class ToneTTS(NamedTTS):
    def __init__(self) -> None:
        super().__init__("tone", "test")

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> ToneStream:
        return ToneStream(tts=self, input_text=text, conn_options=conn_options)


def tone_seconds(text: str) -> float:
    return len(text) * SECONDS_PER_CHAR


class ToneStream(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        start_pcm(output_emitter, f"tone-{next(_ids)}")
        n = int(tone_seconds(self.input_text) * RATE)
        t = np.arange(n) / RATE
        pcm = (np.sin(2 * np.pi * 300 * t) * 8000).astype("<i2")
        output_emitter.push(pcm.tobytes())
        output_emitter.flush()

"""What every fake STT and TTS shows LiveKit: its name, how a stream opens, the audio it emits.

The fakes differ in what they say and when (bench/fakes.py: fixed latencies; tests/fault_fakes.py:
work, fail or hang), not in their plugin surface: `model` and `provider` (the labels of LiveKit's
metrics and our call reports), a streaming-only STT refusing batch recognition, and mono 16 kHz
PCM in 20 ms frames. That surface is defined here once. Imports LiveKit's agent framework and
nothing of ours: the bench and the tests both build on it.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from livekit.agents import stt, tts, utils
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

RATE = 16_000


class _Named:
    """`model` and `provider` as given (LiveKit's default for both is "unknown")."""

    _model_name = _provider_name = "unknown"

    @property
    def model(self) -> str:
        return self._model_name

    @property
    def provider(self) -> str:
        return self._provider_name


class NamedSTT(_Named, stt.STT[Any]):
    def __init__(self, model: str, provider: str, *, capabilities: stt.STTCapabilities) -> None:
        self._model_name, self._provider_name = model, provider
        super().__init__(capabilities=capabilities)


class StreamingOnlySTT(NamedSTT):
    """A streaming STT, as Deepgram's is: `stream()` opens `open_stream`; no batch recognition."""

    def __init__(self, model: str, provider: str, *, interim_results: bool) -> None:
        super().__init__(
            model,
            provider,
            capabilities=stt.STTCapabilities(streaming=True, interim_results=interim_results),
        )

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        raise NotImplementedError("streaming only")

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        return self.open_stream(conn_options)

    @abstractmethod
    def open_stream(self, conn_options: APIConnectOptions) -> stt.RecognizeStream: ...


class NamedTTS(_Named, tts.TTS[Any]):
    """Non-streaming (LiveKit's sentence StreamAdapter wraps it), mono, at RATE."""

    def __init__(self, model: str, provider: str) -> None:
        self._model_name, self._provider_name = model, provider
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False), sample_rate=RATE, num_channels=1
        )


def start_pcm(output_emitter: tts.AudioEmitter, request_id: str) -> None:
    """Open a fake TTS's answer: raw PCM at RATE, mono, pushed on in 20 ms frames."""
    output_emitter.initialize(
        request_id=request_id,
        sample_rate=RATE,
        num_channels=1,
        mime_type="audio/pcm",
        frame_size_ms=20,
    )

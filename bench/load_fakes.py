"""The load bench's provider fakes, as every worker it starts builds them (callcrew's through
bench/load_plugins.py, LiveKit's minimal agent in bench/load_bare.py directly).

`BENCH_STT_MS` and `BENCH_TTS_MS` set the fakes' latencies (defaults: bench/fakes.py's). No
callcrew import here: the bare agent's worker must not load the engine.
"""

from __future__ import annotations

import os

from bench.fakes import FixedSTT, FixedTTS, Latencies, StreamingSTT

# What every caller line is heard as: an ordinary request the front desk answers in one reply.
CALLER_TEXT = "I'd like to book a haircut on Friday morning, please."


def latencies() -> Latencies:
    base = Latencies()
    return Latencies(
        stt_ms=float(os.environ.get("BENCH_STT_MS", base.stt_ms)),
        tts_ttfb_ms=float(os.environ.get("BENCH_TTS_MS", base.tts_ttfb_ms)),
    )


def streaming_stt() -> StreamingSTT:
    """Deepgram-like: interims while the caller speaks, a final after its own endpointer."""
    return StreamingSTT(latencies(), lambda _t: CALLER_TEXT)


def batch_stt() -> FixedSTT:
    """Whisper-like: asked at the VAD's end of speech."""
    return FixedSTT(latencies(), lambda _t: CALLER_TEXT)


def tone_tts() -> FixedTTS:
    return FixedTTS(latencies())

"""Fixed-latency STT/TTS fakes registered as provider `bench` inside a real worker (load bench).

`CALLCREW_PLUGIN_MODULES=bench.load_plugins` makes every worker process (the main one and each
job process) import this module before it resolves its stack, so `STT=bench/streaming` and
`TTS=bench/tone` build these fakes at the plugin boundary, and the job's own cost shows: the
room I/O, VAD, turn-taking, the OpenAI plugin (against the harness's local stub) and the crew.

`BENCH_STT_MS` and `BENCH_TTS_MS` set the fakes' latencies (defaults: bench/fakes.py's).
"""

from __future__ import annotations

import os
from typing import Any

from bench.fakes import FixedSTT, FixedTTS, Latencies, StreamingSTT
from callcrew.providers import stacks

# What every caller line is heard as: an ordinary request the front desk answers in one reply.
CALLER_TEXT = "I'd like to book a haircut on Friday morning, please."


def _latencies() -> Latencies:
    base = Latencies()
    return Latencies(
        stt_ms=float(os.environ.get("BENCH_STT_MS", base.stt_ms)),
        tts_ttfb_ms=float(os.environ.get("BENCH_TTS_MS", base.tts_ttfb_ms)),
    )


def _stt(_settings: Any, block: stacks.Block) -> Any:
    # bench/streaming: Deepgram-like (interims while speaking, its own endpointer);
    # bench/batch: Whisper-like (asked at the VAD's end of speech)
    if block.model == "batch":
        return FixedSTT(_latencies(), lambda _t: CALLER_TEXT)
    return StreamingSTT(_latencies(), lambda _t: CALLER_TEXT)


def _tts(_settings: Any, _block: stacks.Block) -> Any:
    return FixedTTS(_latencies())


stacks.EXTRA_PLUGINS[("stt", "bench")] = _stt
stacks.EXTRA_PLUGINS[("tts", "bench")] = _tts

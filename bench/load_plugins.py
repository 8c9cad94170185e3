"""Fixed-latency STT/TTS fakes registered as provider `bench` inside a real worker (load bench).

`CALLCREW_PLUGIN_MODULES=bench.load_plugins` makes every worker process (the main one and each
job process) import this module before it resolves its stack, so `STT=bench/streaming` and
`TTS=bench/tone` build these fakes at the plugin boundary, and the job's own cost shows: the
room I/O, VAD, turn-taking, the OpenAI plugin (against the harness's local stub) and the crew.

The fakes themselves, and `BENCH_STT_MS` / `BENCH_TTS_MS`, are bench/load_fakes.py's.
"""

from __future__ import annotations

from typing import Any

from bench.load_fakes import batch_stt, streaming_stt, tone_tts
from callcrew.providers import stacks


def _stt(_settings: Any, block: stacks.Block) -> Any:
    # bench/streaming: Deepgram-like; bench/batch: Whisper-like
    return batch_stt() if block.model == "batch" else streaming_stt()


def _tts(_settings: Any, _block: stacks.Block) -> Any:
    return tone_tts()


stacks.EXTRA_PLUGINS[("stt", "bench")] = _stt
stacks.EXTRA_PLUGINS[("tts", "bench")] = _tts

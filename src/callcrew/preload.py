"""Imported once in LiveKit's forkserver (AgentServer `preload_modules`): job code shared COW.

Under the forkserver start method (Linux) every job process is forked from one process that
has imported this module, so the engine, the crew and the framework pieces a call uses are
imported (and their pages shared copy-on-write) once per worker rather than once per call, and
a fresh job process is ready in well under a second instead of re-importing everything.
Imports, and the Silero VAD: its ONNX Runtime session runs on one thread and starts none, so
it survives a fork (checked; Whisper and Hibari do not: a forked child hangs in them, so the
local models stay per process). Nothing here opens a socket.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

from callcrew import worker  # noqa: F401  (the entrypoint, the job modules, providers, store)
from callcrew.crews import load_crew
from callcrew.providers.session import load_vad
from callcrew.providers.stacks import load_plugin_modules
from callcrew.settings import Settings, load_settings

# The configured crew's modules (agents/, its tools and prompts code): a job imports them first
# thing. A broken crew setting is reported by the job itself, with its own clear error.
with contextlib.suppress(Exception):
    load_crew(load_settings().crew)
    load_plugin_modules()
# what a first call imported on its own event loop (seen as "event loop blocked ... importing")
for _name in (
    "livekit.agents.voice",
    "livekit.agents.beta.workflows",
    "openai.pagination",
    "anyio",
):
    with contextlib.suppress(ImportError):
        importlib.import_module(_name)


def vad_key(settings: Settings) -> tuple[str, float, float]:
    return (settings.vad_engine, settings.vad_min_silence, settings.vad_activation_threshold)


# Loaded once here, shared copy-on-write by every job process (worker.prewarm takes it when its
# settings match): no per-process ONNX session to build while a call waits for its process.
VAD: Any = None
VAD_KEY: tuple[str, float, float] | None = None
with contextlib.suppress(Exception):
    _settings = load_settings()
    if _settings.vad_engine == "silero":
        VAD, VAD_KEY = load_vad(_settings), vad_key(_settings)

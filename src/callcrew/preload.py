"""Imported once in LiveKit's forkserver (AgentServer `preload_modules`): job code shared COW.

Under the forkserver start method (Linux) every job process is forked from one process that
has imported this module, so the engine, the crew and the framework pieces a call uses are
imported (and their pages shared copy-on-write) once per worker rather than once per call, and
a fresh job process is ready in well under a second instead of re-importing everything.
Imports only: nothing here starts a thread or opens a socket (a fork must stay safe).
"""

from __future__ import annotations

import contextlib
import importlib

from callcrew import worker  # noqa: F401  (the entrypoint, the job modules, providers, store)
from callcrew.crews import load_crew
from callcrew.providers.stacks import load_plugin_modules
from callcrew.settings import load_settings

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

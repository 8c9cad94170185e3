"""Turn-taking defaults per kind of STT (streaming or batch), chosen from the turn-taking table."""

from __future__ import annotations

from typing import Any

# Turn-taking defaults by the kind of STT the stack runs, chosen from the turn-taking table
# (python -m bench turntaking; docs/benchmarks.md, "Natural turn-taking"). A value set in the
# environment or .env wins over these. Streaming (economy, premium: Deepgram) sends finals
# while the caller is still pausing, so a short VAD silence plus the dictation-aware word
# detector answers finished lines fast and waits out dictation. Batch (local: Whisper) hears
# VAD-cut utterances, each in its turn's context (providers/turn_stt.py), decoded early so
# the words are ready when the silence runs out; at 0.4 s or less the VAD can end an utterance
# at the ~0.4 s pause between two sentences of one turn, and the agent answers the first
# (docs/benchmarks.md, rounds 4 and 5), so the local stack keeps 0.45 s.
TURN_DEFAULTS: dict[str, dict[str, Any]] = {
    "streaming": {
        "turn_detection": "words",
        "vad_min_silence": 0.25,
        "endpointing_min_delay": 0.2,
        "endpointing_max_delay": 2.0,
    },
    "batch": {
        "turn_detection": "words",
        "vad_min_silence": 0.45,
        "endpointing_min_delay": 0.4,
        "endpointing_max_delay": 2.0,
    },
}
# The STT provider of each stack (providers/stacks.py STACKS has the models); "local" is batch.
_STACK_STT = {"economy": "deepgram", "premium": "deepgram", "local": "local"}


def stt_kind(stack: str, stt: str | None = None) -> str:
    """The kind of STT: batch for a non-streaming one (the local Whisper), else streaming."""
    provider = (stt or "").partition("/")[0] or _STACK_STT.get(stack, "deepgram")
    return "batch" if provider == "local" else "streaming"

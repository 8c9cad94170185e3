"""Audio rehearsals: `callcrew simulate --audio` plays a scenario through the real audio path.

The caller's lines are spoken by espeak-ng (a different engine from the agent's Hibari voice, so
the STT never hears its own TTS) at 16 kHz into a custom `io.AudioInput` that delivers 20 ms
frames in real time, with silence between lines as on a phone line. The real Silero VAD, the
local Whisper STT (wrapped by LiveKit's `StreamAdapter`), VAD turn detection with the settings'
endpointing, the crew with the replay LLM and its tools, and the local Hibari TTS all run. The
agent's audio goes to a custom `io.AudioOutput` that plays it in real time (it reports
`playback_started`/`playback_finished`, pauses and clears like a room's output), and both sides
are written to one stereo WAV on a common timeline: caller left, agent right.

Because the rehearsal knows exactly when each caller line really ended (it fed the audio), it
measures the caller's true wait: true end of speech -> first agent audio frame at the output,
beside LiveKit's own figures, which start at the VAD's end-of-speech anchor.

The package, by job: `voice` (the caller's lines spoken), `line` (mic, speaker, timeline, WAV),
`setup` (options, turn-taking, VAD, the line-tracking replay LLM), `run` (the call itself),
`score` (WER, true waits, barge-in checks, turn logs), `words` (WER normalisation).
"""

from callcrew.simulate.audio.line import (
    RATE,
    CallerMic,
    RehearsalSpeaker,
    Timeline,
    Utterance,
    agent_quiet,
    pcm_to_16k,
)
from callcrew.simulate.audio.run import play_audio
from callcrew.simulate.audio.setup import AudioOptions, LineTrackingReplay
from callcrew.simulate.audio.voice import CallerVoiceError, speak, trim
from callcrew.simulate.audio.words import normalize, wer, word_errors

__all__ = [
    "RATE",
    "AudioOptions",
    "CallerMic",
    "CallerVoiceError",
    "LineTrackingReplay",
    "RehearsalSpeaker",
    "Timeline",
    "Utterance",
    "agent_quiet",
    "normalize",
    "pcm_to_16k",
    "play_audio",
    "speak",
    "trim",
    "wer",
    "word_errors",
]

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
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io as _io
import logging
import re
import shutil
import subprocess
import time
import wave
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents import AgentSession, llm, metrics, stt, vad
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)
from livekit.agents.voice import io
from livekit.agents.voice.turn import TurnHandlingOptions

from callcrew.call import CallState
from callcrew.profile import BusinessProfile
from callcrew.providers.gated_stt import GatedSTT
from callcrew.providers.local_stt import LocalWhisperSTT
from callcrew.providers.local_tts import LocalHibariTTS
from callcrew.providers.session import attach_backchannel_guard, load_vad, turn_handling
from callcrew.settings import Settings
from callcrew.simulate.replay import ReplayLLM, ReplayScript
from callcrew.simulate.runner import (
    Conclusion,
    SimResult,
    TurnLog,
    conclude,
    open_call,
)
from callcrew.simulate.scenario import Scenario
from callcrew.store import Store

log = logging.getLogger("callcrew.simulate.audio")

RATE = 16_000  # the rehearsal's line: caller, agent and the WAV all at 16 kHz
FRAME_S = 0.02
FRAME = int(RATE * FRAME_S)
DEFAULT_PAUSE_S = 0.8  # a caller's natural pause before answering
DEFAULT_BACKCHANNEL_AFTER_S = 1.0
IDLE_SETTLE_S = 0.4  # the agent counts as done when idle this long


# --- words and errors --------------------------------------------------------------------------

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORDINAL = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip
_ABBREV = {"mr": "mister", "mrs": "missus", "dr": "doctor", "ok": "okay", "st": "street"}


def number_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if not rest else " " + number_words(rest))
    if n < 10000 and n % 100 and 1100 <= n < 2100:
        return number_words(n // 100) + " " + number_words(n % 100)
    if n < 1_000_000:
        rest = n % 1000
        return (
            number_words(n // 1000) + " thousand" + ("" if not rest else " " + number_words(rest))
        )
    return " ".join(_ONES[int(d)] for d in str(n))


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL:
        last = _ORDINAL[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head} {last}".strip()


def normalize(text: str) -> list[str]:
    """Words for WER: lower case, no punctuation, digits and times as words, US spelling."""
    t = text.lower().replace("’", "'")
    t = re.sub(r"\b(\d{1,2}):(\d{2})\b", lambda m: f"{m[1]} {m[2]}" if m[2] != "00" else m[1], t)
    t = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: _ordinal(number_words(int(m[1]))), t)
    t = re.sub(r"\b\d+\b", lambda m: number_words(int(m[0])), t)
    t = re.sub(r"\b(a|p)\.?m\b\.?", r"\1m", t)
    t = re.sub(r"[-‐–—/]", " ", t)
    t = re.sub(r"[^a-z0-9' ]+", " ", t)
    words = []
    for w in t.split():
        w = w.strip("'")
        w = _ABBREV.get(w, w)
        w = re.sub(r"our$", "or", w) if w in ("colour", "colouring", "colours") else w
        w = w.replace("colour", "color")
        if w:
            words.extend(w.split())
    return words


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference length)."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1], len(ref)


def wer(reference: str, hypothesis: str) -> float:
    errors, n = word_errors(reference, hypothesis)
    return errors / n if n else float(bool(normalize(hypothesis)))


# --- the caller's voice ------------------------------------------------------------------------


class CallerVoiceError(RuntimeError):
    pass


def pcm_to_16k(pcm: np.ndarray[Any, np.dtype[np.int16]], rate: int) -> np.ndarray[Any, Any]:
    if rate == RATE or len(pcm) == 0:
        return pcm
    resampler = rtc.AudioResampler(rate, RATE, quality=rtc.AudioResamplerQuality.HIGH)
    out = resampler.push(bytearray(pcm.tobytes())) + resampler.flush()
    return np.concatenate([np.frombuffer(f.data, np.int16) for f in out])


def trim(pcm: np.ndarray[Any, Any], threshold: int = 160) -> np.ndarray[Any, Any]:
    """Cut leading and trailing silence (below about -46 dBFS) so the true end is the clip's end."""
    loud = np.nonzero(np.abs(pcm.astype(np.int32)) > threshold)[0]
    if len(loud) == 0:
        return pcm[:0]
    return pcm[loud[0] : loud[-1] + 1]


_voice_cache: dict[tuple[str, str, int], np.ndarray[Any, Any]] = {}


def speak(text: str, voice: str = "en-us", wpm: int = 150) -> np.ndarray[Any, Any]:
    """The caller's line as int16 PCM at 16 kHz, spoken by espeak-ng (blocking)."""
    key = (text, voice, wpm)
    if key in _voice_cache:
        return _voice_cache[key]
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise CallerVoiceError(
            "audio rehearsals speak the caller with espeak-ng: apt-get install espeak-ng "
            "(or scripts/install --system)"
        )
    proc = subprocess.run(
        [exe, "-v", voice, "-s", str(wpm), "--stdout", text],
        capture_output=True,
        check=False,
        timeout=60,
    )
    if proc.returncode != 0 or not proc.stdout:
        raise CallerVoiceError(f"espeak-ng failed for {text!r}: {proc.stderr.decode()[:200]}")
    with wave.open(_io.BytesIO(proc.stdout)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    clip = trim(pcm_to_16k(pcm, rate))
    _voice_cache[key] = clip
    return clip


# --- the common timeline and the stereo WAV ----------------------------------------------------


class Timeline:
    """Wall clock -> sample position at 16 kHz; collects both channels for the WAV."""

    def __init__(self) -> None:
        self.t0 = time.time()
        self.caller: list[tuple[int, np.ndarray[Any, Any]]] = []
        self.agent: list[tuple[int, np.ndarray[Any, Any]]] = []

    def start(self) -> None:
        self.t0 = time.time()

    def pos(self, t: float) -> int:
        return max(0, round((t - self.t0) * RATE))

    def offset(self, t: float | None) -> float | None:
        return None if t is None else round(t - self.t0, 3)

    def release(self) -> None:
        """Drop the recorded audio (once the WAV is written)."""
        self.caller.clear()
        self.agent.clear()

    def write_wav(self, path: Path) -> float:
        end = max((p + len(a) for p, a in [*self.caller, *self.agent]), default=0)
        stereo = np.zeros((end, 2), np.int32)
        for ch, parts in ((0, self.caller), (1, self.agent)):
            for p, a in parts:
                stereo[p : p + len(a), ch] += a
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(np.clip(stereo, -32768, 32767).astype("<i2").tobytes())
        return end / RATE


@dataclass
class Utterance:
    index: int
    text: str
    pcm: np.ndarray[Any, Any]
    start_pos: int = -1
    started_at: float | None = None  # wall clock of the first speech sample
    ended_at: float | None = None  # wall clock of the last speech sample, as delivered
    done: asyncio.Event = field(default_factory=asyncio.Event)


class CallerMic(io.AudioInput):
    """20 ms frames at 16 kHz in real time: a line when one is queued, else a quiet line."""

    def __init__(self, timeline: Timeline, *, noise: float = 3.0, seed: int = 7) -> None:
        super().__init__(label="RehearsalCaller")
        self._timeline = timeline
        self._queue: deque[Utterance] = deque()
        self._current: Utterance | None = None
        self._cursor = 0
        self._n = 0
        self._noise = noise
        self._rng = np.random.default_rng(seed)
        self.max_lateness = 0.0

    def say(self, utt: Utterance) -> Utterance:
        self._queue.append(utt)
        return utt

    async def __anext__(self) -> rtc.AudioFrame:
        due = self._timeline.t0 + (self._n + 1) * FRAME_S
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            self.max_lateness = max(self.max_lateness, -delay)
        delivered = time.time()
        frame_start = self._n * FRAME
        self._n += 1
        # A faint noise floor (about -80 dBFS): real lines are never digitally silent.
        chunk = self._rng.normal(0, self._noise, FRAME).astype(np.int32)
        if self._current is None and self._queue:
            self._current = self._queue.popleft()
            self._cursor = 0
            self._current.start_pos = frame_start
            self._current.started_at = delivered - FRAME_S
        if (utt := self._current) is not None:
            piece = utt.pcm[self._cursor : self._cursor + FRAME]
            chunk[: len(piece)] += piece
            self._cursor += len(piece)
            if self._cursor >= len(utt.pcm):
                # the frame is delivered once complete; speech ended `rest` before that
                rest = (FRAME - len(piece)) / RATE
                utt.ended_at = delivered - rest
                self._timeline.caller.append((utt.start_pos, utt.pcm))
                self._current = None
                utt.done.set()
        pcm = np.clip(chunk, -32768, 32767).astype(np.int16)
        return rtc.AudioFrame(pcm.tobytes(), RATE, 1, FRAME)


@dataclass
class Segment:
    started_at: float  # first frame at the output
    audible_at: float | None = None  # first frame above about -40 dBFS
    ended_at: float | None = None
    interrupted: bool = False
    played_s: float = 0.0


class RehearsalSpeaker(io.AudioOutput):
    """Plays the agent's audio in real time at 16 kHz, like a room's audio output.

    `capture_frame` queues audio (faster than real time); a playout task "plays" 20 ms at a
    time on the wall clock and writes it into the timeline. `flush` ends a segment (reported by
    `on_playback_finished` once it has played out), `clear_buffer` stops it at once
    (interrupted), `pause`/`resume` hold the playhead (false-interruption handling).
    """

    def __init__(self, timeline: Timeline) -> None:
        super().__init__(
            label="RehearsalSpeaker",
            capabilities=io.AudioOutputCapabilities(pause=True),
            sample_rate=RATE,
        )
        self._timeline = timeline
        self._frames: deque[np.ndarray[Any, Any]] = deque()
        self._wake = asyncio.Event()
        self._enabled = asyncio.Event()
        self._enabled.set()
        self._segment_done = asyncio.Event()
        self._segment_done.set()
        self._active = False  # audio captured in the current segment
        self._flushed = False
        self._interrupted = False
        self._played = 0.0
        self._playhead: int | None = None
        self._task: asyncio.Task[None] | None = None
        self.segments: list[Segment] = []
        self.pauses: list[float] = []
        self.resumes: list[float] = []
        self.clears: list[float] = []

    def start(self) -> None:
        self._task = asyncio.create_task(self._playout(), name="RehearsalSpeaker.playout")

    def release(self) -> None:
        """Drop queued audio (after the call)."""
        self._frames.clear()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def playing(self) -> bool:
        return bool(self.segments) and self.segments[-1].ended_at is None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        if self._flushed and self._active:
            await self._segment_done.wait()  # the previous segment is still playing out
        await super().capture_frame(frame)
        if self._interrupted:
            return  # cleared: the rest of this segment never plays
        pcm = np.frombuffer(frame.data, np.int16)
        if frame.num_channels > 1:
            pcm = pcm.reshape(-1, frame.num_channels)[:, 0]
        if frame.sample_rate != RATE:
            pcm = pcm_to_16k(pcm, frame.sample_rate)
        for i in range(0, len(pcm), FRAME):
            self._frames.append(pcm[i : i + FRAME].copy())
        if not self._active:
            self._active = True
            self._segment_done.clear()
        self._wake.set()

    def flush(self) -> None:
        super().flush()
        if not self._active:
            return
        self._flushed = True
        self._wake.set()

    def clear_buffer(self) -> None:
        if not self._active:
            return
        self._frames.clear()
        if not self._interrupted:
            self.clears.append(time.time())
        self._interrupted = True
        self._wake.set()

    def pause(self) -> None:
        super().pause()
        if self._enabled.is_set():
            self.pauses.append(time.time())
        self._enabled.clear()

    def resume(self) -> None:
        super().resume()
        if not self._enabled.is_set():
            self.resumes.append(time.time())
        self._enabled.set()
        self._wake.set()

    def _finish(self, *, interrupted: bool) -> None:
        played = self._played
        if self.segments and self.segments[-1].ended_at is None:
            seg = self.segments[-1]
            seg.ended_at, seg.interrupted, seg.played_s = time.time(), interrupted, played
        self._frames.clear()
        self._active = self._flushed = self._interrupted = False
        self._played = 0.0
        self._playhead = None
        self._segment_done.set()
        self.on_playback_finished(playback_position=played, interrupted=interrupted)

    async def _playout(self) -> None:
        deadline = 0.0
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                if self._interrupted:
                    if self._flushed:
                        self._finish(interrupted=True)
                    break
                if not self._enabled.is_set():
                    break
                if self._frames:
                    chunk = self._frames.popleft()
                    now = time.time()
                    if self._playhead is None or not self.segments or self.segments[-1].ended_at:
                        self.segments.append(Segment(started_at=now))
                        self.on_playback_started(created_at=now)
                    wall = self._timeline.pos(now)
                    if self._playhead is None or abs(wall - self._playhead) > 0.06 * RATE:
                        self._playhead = wall
                    seg = self.segments[-1]
                    if seg.audible_at is None and int(np.abs(chunk).max(initial=0)) > 330:
                        seg.audible_at = now
                    self._timeline.agent.append((self._playhead, chunk))
                    self._playhead += len(chunk)
                    duration = len(chunk) / RATE
                    self._played += duration
                    deadline = max(deadline, now) + duration
                    await asyncio.sleep(max(0.0, deadline - time.time()))
                    continue
                if self._flushed:
                    self._finish(interrupted=False)
                break

    def first_audio_after(self, t: float) -> float | None:
        return next((s.started_at for s in self.segments if s.started_at >= t), None)

    def first_audible_after(self, t: float) -> float | None:
        return next(
            (s.audible_at for s in self.segments if s.started_at >= t and s.audible_at), None
        )


# --- which caller line the model is answering --------------------------------------------------


class LineTrackingReplay(ReplayLLM):
    """The replay LLM, turned to the next caller line whenever the session commits a new turn.

    In text mode the runner knows when each line is sent; with audio the session decides when
    the caller's turn ended, so the script advances when a request carries a new user message.
    """

    def __init__(self, script: ReplayScript, reply_lines: list[int]) -> None:
        super().__init__(script)
        self._pending = deque(reply_lines)
        self._seen: set[str] = set()
        self.committed: dict[int, asyncio.Event] = {i: asyncio.Event() for i in reply_lines}
        self.message_line: dict[str, int] = {}
        self.unexpected_turns: list[str] = []

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        last_user = next(
            (
                item
                for item in reversed(chat_ctx.items)
                if item.type == "message" and item.role == "user"
            ),
            None,
        )
        if last_user is not None and last_user.id not in self._seen:
            self._seen.add(last_user.id)
            if self._pending:
                line = self._pending.popleft()
                self.message_line[last_user.id] = line
                self.script.begin_turn(line)
                self.committed[line].set()
            else:
                self.unexpected_turns.append(last_user.text_content or "")
        return super().chat(
            chat_ctx=chat_ctx,
            tools=tools,
            conn_options=conn_options,
            parallel_tool_calls=parallel_tool_calls,
            tool_choice=tool_choice,
            extra_kwargs=extra_kwargs,
        )


# --- options, turn-taking, the run ------------------------------------------------------------


@dataclass
class AudioOptions:
    wav: Path | None = None  # default: var/rehearsals/<scenario>.wav
    caller_voice: str = "en-us"
    caller_wpm: int = 150
    pause_s: float = DEFAULT_PAUSE_S
    turn_timeout_s: float = 30.0
    min_interruption_words: int | None = None  # None: MIN_INTERRUPTION_WORDS from settings
    # Gate the STT input with its own VAD (providers/gated_stt.py), as a streaming STT would be:
    # measures what the gate costs in words and turn gap (bench/cost_audio.py).
    stt_gate: bool = False
    # --caller-llm: each scripted line's words come from this caller (simulate/caller_llm.py),
    # asked right before the line with what the agent just said; timing fields stay scripted.
    caller: Any = None


def rehearsal_turn_handling(
    settings: Settings, min_interruption_words: int = 2
) -> TurnHandlingOptions:
    """The call's own turn-taking, with preemptive generation off for repeatable runs.

    `min_interruption_words`: while the agent speaks, the caller's speech interrupts it only
    once the STT has heard this many words. With a non-streaming STT (Whisper) there is no
    transcript until the caller pauses, so 2 words means a one-word backchannel ("mm-hmm",
    "right") never cuts the agent off, at the price of a barge-in stopping the agent only once
    the caller's words are transcribed (see docs/benchmarks.md). 0 restores VAD barge-in.
    """
    opts = turn_handling(settings)
    opts["preemptive_generation"] = {"enabled": False}
    interruption = dict(opts.get("interruption") or {})
    interruption["min_words"] = min_interruption_words
    opts["interruption"] = interruption  # type: ignore[typeddict-item]
    return opts


_vad_cache: dict[tuple[float, float], vad.VAD] = {}


def shared_vad(settings: Settings) -> vad.VAD:
    """One Silero VAD per process and setting, as the worker's prewarm does."""
    key = (settings.vad_min_silence, settings.vad_activation_threshold)
    if key not in _vad_cache:
        _vad_cache[key] = load_vad(settings)
    return _vad_cache[key]


@dataclass
class _Heard:
    at: float
    text: str


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except TimeoutError:
        return False


async def play_audio(
    scenario: Scenario,
    settings: Settings,
    profile: BusinessProfile,
    store: Store,
    now: Callable[[], datetime],
    on_turn: Callable[[TurnLog], None] | None,
    started: float,
    options: AudioOptions,
) -> SimResult:
    result = await _play_audio(scenario, settings, profile, store, now, on_turn, started, options)
    # LiveKit's Silero VAD streams (a 60 s speech buffer each, 1.9 MB, four per rehearsal) end
    # the call inside reference cycles, which only a full collection frees; the generational
    # GC counts objects, not bytes, so in a long-lived process (several rehearsals, the soak)
    # they piled up at ~8 MB per call. Collect them now, while nothing is waiting on us.
    gc.collect()
    return result


async def _play_audio(
    scenario: Scenario,
    settings: Settings,
    profile: BusinessProfile,
    store: Store,
    now: Callable[[], datetime],
    on_turn: Callable[[TurnLog], None] | None,
    started: float,
    options: AudioOptions,
) -> SimResult:
    crew, control, info, state = await open_call(scenario, settings, profile, store, now)
    lines = list(scenario.turns)
    caller = options.caller
    if caller is not None:
        caller.begin(scenario, profile)
    reply_lines = [i for i, t in enumerate(lines) if not t.backchannel]
    script = ReplayScript(
        turns={-1: scenario.opening} | {i: t.agent for i, t in enumerate(lines)},
        ttft_s=scenario.replay.get("ttft_ms", 0.0) / 1000,
        tokens_per_s=scenario.replay.get("tokens_per_s", 0.0),
    )
    model = LineTrackingReplay(script, reply_lines)
    clips = await asyncio.gather(
        *(
            asyncio.to_thread(speak, t.caller, options.caller_voice, options.caller_wpm)
            for t in (lines if caller is None else [])
        )
    )
    utterances = [
        Utterance(i, t.caller, clip) for i, (t, clip) in enumerate(zip(lines, clips, strict=False))
    ]

    stt_model = LocalWhisperSTT(threads=settings.local_stt_threads)
    tts_model = LocalHibariTTS(voice=settings.local_tts_voice)
    await asyncio.to_thread(stt_model.load)
    await asyncio.to_thread(tts_model.load)
    timeline = Timeline()
    mic = CallerMic(timeline)
    speaker = RehearsalSpeaker(timeline)
    min_words = (
        settings.min_interruption_words
        if options.min_interruption_words is None
        else options.min_interruption_words
    )
    session_stt: stt.STT[Any] = stt_model
    if options.stt_gate:
        adapter = stt.StreamAdapter(stt=stt_model, vad=shared_vad(settings))
        session_stt = GatedSTT(adapter, shared_vad(settings))
    session: AgentSession[CallState] = AgentSession(
        stt=session_stt,
        llm=model,
        tts=tts_model,
        vad=shared_vad(settings),
        turn_handling=rehearsal_turn_handling(settings, min_words),
        # The simulated caller hears no echo of the agent, so there is no echo canceller to warm
        # up (LiveKit's own simulator also turns the warm-up off).
        aec_warmup_duration=None,
        user_away_timeout=settings.user_away_timeout,
        userdata=state,
    )
    session.input.audio = mic
    session.output.audio = speaker
    if min_words > 0:
        attach_backchannel_guard(session, min_words)

    heard: list[_Heard] = []
    stt_runs: list[tuple[float, float]] = []  # (processing s, audio s)
    tts_runs: list[tuple[float, float]] = []
    false_interruptions: list[dict[str, Any]] = []

    @session.on("user_input_transcribed")
    def _on_transcript(ev: Any) -> None:
        if ev.is_final and ev.transcript:
            heard.append(_Heard(time.time(), ev.transcript))

    def _on_metrics(m: Any) -> None:
        if isinstance(m, metrics.STTMetrics) and m.audio_duration:
            stt_runs.append((m.duration, m.audio_duration))
        elif isinstance(m, metrics.TTSMetrics) and m.audio_duration and not m.cancelled:
            tts_runs.append((m.duration, m.audio_duration))

    stt_model.on("metrics_collected", _on_metrics)
    tts_model.on("metrics_collected", _on_metrics)

    @session.on("agent_false_interruption")
    def _on_false(ev: Any) -> None:
        false_interruptions.append({"at": time.time(), "resumed": bool(ev.resumed)})

    def idle() -> bool:
        speech = session.current_speech
        return (
            session.agent_state in ("listening", "idle")
            and (speech is None or speech.done())
            and not speaker.playing
        )

    async def settle(turn: int) -> bool:
        """Until the agent has used its script for `turn` and gone quiet (or the call ended)."""
        deadline = time.time() + options.turn_timeout_s
        quiet_since: float | None = None
        while time.time() < deadline:
            if (control.hung_up or control.transferred_to) and not speaker.playing:
                return True
            script_done = not script._queues.get(turn)
            if script_done and idle():
                quiet_since = quiet_since or time.time()
                if time.time() - quiet_since >= IDLE_SETTLE_S:
                    return True
            else:
                quiet_since = None
            await asyncio.sleep(0.05)
        return False

    failures: list[str] = []
    hangs_up = False  # the LLM caller (if any) hung up
    line_notes: dict[int, dict[str, Any]] = {}
    error: str | None = None
    final: str | None = None
    history = session.history
    usage = session.usage
    try:
        async with session:
            timeline.start()
            speaker.start()
            await session.start(crew.first_agent(state))
            if not await settle(-1):
                failures.append("the greeting never finished playing")
            unsettled: int | None = None  # a committed line whose answer may still be playing
            for i, turn in enumerate(list(lines)):
                if caller is not None and not turn.backchannel:
                    if unsettled is not None and not await settle(unsettled):
                        failures.append(
                            f"caller line {unsettled + 1}: the agent did not finish answering "
                            f"within {options.turn_timeout_s:g} s"
                        )
                        break
                    unsettled = None
                    if control.hung_up or control.transferred_to:
                        break
                    line = await caller.reply_to(_agent_since_caller(session.history))
                    hangs_up = line.hangs_up
                    if not line.text:
                        break
                    turn = lines[i] = turn.model_copy(update={"caller": line.text})
                if caller is not None:
                    clip = await asyncio.to_thread(
                        speak, turn.caller, options.caller_voice, options.caller_wpm
                    )
                    utterances.append(Utterance(i, turn.caller, clip))
                utt = utterances[i]
                note: dict[str, Any] = {}
                over_agent = turn.backchannel or turn.barge_in_after_s is not None
                if not over_agent and unsettled is not None:
                    if not await settle(unsettled):
                        failures.append(
                            f"caller line {unsettled + 1}: the agent did not finish answering "
                            f"within {options.turn_timeout_s:g} s"
                        )
                        break
                    unsettled = None
                if control.hung_up or control.transferred_to:
                    failures.append(
                        f"caller line {i + 1} ({turn.caller!r}) was never heard: the call had "
                        "already ended"
                    )
                    break
                if over_agent:
                    after = (
                        turn.barge_in_after_s
                        if turn.barge_in_after_s is not None
                        else DEFAULT_BACKCHANNEL_AFTER_S
                    )
                    since = utterances[i - 1].ended_at if i else timeline.t0
                    speech_at = await _first_audio(speaker, since or timeline.t0, options)
                    if speech_at is None:
                        failures.append(
                            f"caller line {i + 1}: the agent never started speaking, so there "
                            "was nothing to talk over"
                        )
                        break
                    await asyncio.sleep(max(0.0, speech_at + after - time.time()))
                    note["agent_speaking_at_start"] = speaker.playing
                    if not speaker.playing:
                        failures.append(
                            f"caller line {i + 1}: the agent had already stopped speaking "
                            f"{after:g} s after it started, so the line did not overlap it"
                        )
                else:
                    await asyncio.sleep(
                        turn.pause_s if turn.pause_s is not None else options.pause_s
                    )
                mic.say(utt)
                await utt.done.wait()
                line_notes[i] = note
                if turn.backchannel:
                    continue
                if not await _wait(model.committed[i], options.turn_timeout_s):
                    said = " / ".join(h.text for h in heard if h.at >= (utt.started_at or 0))
                    failures.append(
                        f"caller line {i + 1} ({turn.caller!r}) never became a turn "
                        f"(the STT heard: {said or 'nothing'!r})"
                    )
                    break
                unsettled = i
                if hangs_up:
                    break
            if unsettled is not None:
                await settle(unsettled)
            script.finish_turn()
            final = session.current_agent.id
            history = session.history.copy()
            usage = session.usage
    except Exception as exc:  # the report is written whatever happened
        log.exception("audio rehearsal failed")
        error = f"{type(exc).__name__}: {exc}"
        history, usage = session.history.copy(), session.usage
    finally:
        await speaker.aclose()

    lines = lines[: len(utterances)]  # an LLM caller may hang up before the script runs out
    played = scenario.model_copy(update={"turns": lines})
    opening, turn_logs = _turn_logs(history, model, lines, utterances, time.time())
    if on_turn:
        on_turn(opening)
        for log_ in turn_logs:
            on_turn(log_)

    audio = _audio_report(
        played, utterances, heard, speaker, timeline, history, model, line_notes,
        stt_runs, tts_runs, false_interruptions, mic, options, failures,
    )  # fmt: skip
    wav = options.wav or Path("var/rehearsals") / f"{scenario.label}.wav"
    audio["wav"] = str(wav)
    audio["wav_seconds"] = round(await asyncio.to_thread(timeline.write_wav, wav), 2)
    if isinstance(session_stt, GatedSTT):
        sent, held = round(session_stt.sent_s, 2), round(session_stt.held_s, 2)
        audio["stt_gate"] = {"sent_s": sent, "held_s": held}
    # The recording is on disk. The session, its event handlers, the mic and the speaker form
    # reference cycles, so whatever they still reach waits for a full cyclic collection (see
    # play_audio); dropping our own buffers here frees them by reference counting, at once.
    timeline.release()
    speaker.release()
    for utt in utterances:
        utt.pcm = np.zeros(0, np.int16)
    session.off("user_input_transcribed", _on_transcript)
    session.off("agent_false_interruption", _on_false)
    stt_model.off("metrics_collected", _on_metrics)
    tts_model.off("metrics_collected", _on_metrics)

    problems = [
        *failures,
        *script.problems,
        *(
            f"an extra caller turn the scenario has no line for was committed: {t!r}"
            for t in model.unexpected_turns
        ),
    ]
    result = await conclude(
        scenario,
        settings,
        Conclusion(
            state=state,
            store=store,
            control=control,
            profile=profile,
            info=info,
            clock=now(),
            history=history,
            usage=usage,
            stack="local+replay",
            error=error,
            final_agent=final,
            opening=opening,
            turn_logs=turn_logs,
            problems=problems,
            started=started,
            replay_calls=len(script.calls),
            # Measured audio: priced from the real STT/TTS usage, not estimated from words.
            cost_stack="local",
            estimate_speech=False,
            true_end_of_speech=audio.pop("_true_end_by_row"),
            rehearsal={"mode": "audio", **_caller_facts(caller, len(utterances), hangs_up)},
            extra={"audio": audio},
        ),
    )
    if caller is not None:
        from callcrew.metrics.side_llm import add_side_usage

        add_side_usage(result.report, caller.side.usage, settings)
        await caller.side.aclose()
    return result


def _caller_facts(caller: Any, lines: int, hung_up: bool) -> dict[str, Any]:
    if caller is None:
        return {}
    ended = "the caller hung up" if hung_up else "the script ran out or the crew ended the call"
    return {
        "caller_llm": {
            "model": caller.side.usage.model,
            "ended": ended,
            "caller_lines": lines,
            "max_turns": caller.max_turns,
        }
    }


def _agent_since_caller(history: llm.ChatContext) -> str:
    """What the agent said after the caller's last line: what an LLM caller answers."""
    said: list[str] = []
    for item in history.items:
        if item.type == "message" and item.role == "user":
            said = []
        elif item.type == "message" and item.role == "assistant" and item.text_content:
            said.append(item.text_content)
    return " ".join(said)


async def _first_audio(
    speaker: RehearsalSpeaker, since: float, options: AudioOptions
) -> float | None:
    deadline = time.time() + options.turn_timeout_s
    while time.time() < deadline:
        at = speaker.first_audio_after(since)
        if at is not None:
            return at
        await asyncio.sleep(0.01)
    return None


def _turn_logs(
    history: llm.ChatContext,
    model: LineTrackingReplay,
    lines: list[Any],
    utterances: list[Utterance],
    ended: float,
) -> tuple[TurnLog, list[TurnLog]]:
    """History split at the committed caller turns, in the shape of a text rehearsal's logs.

    A turn's wall time runs from its line's first sound to the next line's (or the call's end).
    """
    starts = [u.started_at for u in utterances]
    opening = TurnLog(-1, "", 0.0)
    logs = []
    for i, line in enumerate(lines):
        start = starts[i]
        nxt = next((t for t in starts[i + 1 :] if t is not None), ended)
        logs.append(TurnLog(i, line.caller, (nxt - start) if start is not None else 0.0))
    current = opening
    for item in history.items:
        if item.type == "message" and item.role == "user":
            line = model.message_line.get(item.id)
            if line is not None:
                current = logs[line]
            continue
        if item.type == "message" and item.role == "assistant":
            event = {
                "type": "say",
                "text": item.text_content or "",
                "metrics": dict(item.metrics),
                "interrupted": bool(item.interrupted),
            }
        elif item.type == "function_call":
            event = {"type": "tool_call", "name": item.name, "arguments": item.arguments}
        elif item.type == "function_call_output":
            event = {
                "type": "tool_result",
                "name": item.name,
                "output": item.output,
                "is_error": item.is_error,
            }
        elif item.type == "agent_handoff":
            if item.old_agent_id is None:
                continue  # the first agent starting, not a hand-off
            event = {"type": "handoff", "from": item.old_agent_id, "to": item.new_agent_id}
        else:
            continue
        current.events.append(event)
    return opening, logs


def _audio_report(
    scenario: Scenario,
    utterances: list[Utterance],
    heard: list[_Heard],
    speaker: RehearsalSpeaker,
    timeline: Timeline,
    history: llm.ChatContext,
    model: LineTrackingReplay,
    notes: dict[int, dict[str, Any]],
    stt_runs: list[tuple[float, float]],
    tts_runs: list[tuple[float, float]],
    false_interruptions: list[dict[str, Any]],
    mic: CallerMic,
    options: AudioOptions,
    failures: list[str],
) -> dict[str, Any]:
    spoken = [u for u in utterances if u.ended_at is not None]
    # What the STT heard for each line: final transcripts between its start and the next one's.
    texts: dict[int, list[str]] = {u.index: [] for u in spoken}
    for h in heard:
        owner = None
        for u in spoken:
            if u.started_at is not None and u.started_at <= h.at:
                owner = u.index
        if owner is not None:
            texts[owner].append(h.text)

    # Assistant-message rows (the report's `turns`) that answer each line.
    rows: dict[int, int] = {}
    row = -1
    line: int | None = None
    for item in history.items:
        if item.type != "message":
            continue
        if item.role == "user":
            line = model.message_line.get(item.id, line)
        elif item.role == "assistant":
            row += 1
            if line is not None and line not in rows:
                rows[line] = row
    true_end_by_row = {rows[u.index]: u.ended_at for u in spoken if u.index in rows and u.ended_at}

    line_rows: list[dict[str, Any]] = []
    total_err = total_words = 0
    for u in spoken:
        turn = scenario.turns[u.index]
        said = " ".join(texts.get(u.index, []))
        errors, words = word_errors(u.text, said)
        if not turn.backchannel:
            total_err += errors
            total_words += words
        entry: dict[str, Any] = {
            "line": u.index + 1,
            "said": u.text,
            "heard": said,
            "wer": round(errors / words, 3) if words else None,
            "speech_start_s": timeline.offset(u.started_at),
            "true_end_of_speech_s": timeline.offset(u.ended_at),
            "speech_s": round(len(u.pcm) / RATE, 2),
            "kind": "backchannel"
            if turn.backchannel
            else ("barge_in" if turn.barge_in_after_s is not None else "turn"),
        }
        entry.update(notes.get(u.index, {}))
        assert u.started_at is not None and u.ended_at is not None
        if not turn.backchannel and u.index in model.message_line.values():
            first = speaker.first_audio_after(u.ended_at)
            entry["first_agent_audio_s"] = timeline.offset(first)
            entry["true_wait_s"] = round(first - u.ended_at, 3) if first else None
            audible = speaker.first_audible_after(u.ended_at)
            entry["true_wait_audible_s"] = round(audible - u.ended_at, 3) if audible else None
            msg = _assistant_for_line(history, model, u.index)
            if msg is not None:
                for key in (
                    "end_of_turn_delay",
                    "transcription_delay",
                    "llm_node_ttft",
                    "tts_node_ttfb",
                    "e2e_latency",
                ):
                    value = msg.get(key)
                    entry[key] = round(float(value), 4) if isinstance(value, int | float) else None
        if turn.barge_in_after_s is not None or turn.backchannel:
            _overlap_checks(entry, u, speaker, history, turn.backchannel, failures)
        line_rows.append(entry)

    stt_proc = sum(p for p, _ in stt_runs)
    stt_audio = sum(a for _, a in stt_runs)
    tts_proc = sum(p for p, _ in tts_runs)
    tts_audio = sum(a for _, a in tts_runs)
    return {
        "caller_voice": f"espeak-ng {options.caller_voice} {options.caller_wpm} wpm",
        "agent_voice": "hibari heart",
        "sample_rate": RATE,
        "lines": line_rows,
        "wer": round(total_err / total_words, 3) if total_words else None,
        "stt_rtf": round(stt_proc / stt_audio, 3) if stt_audio else None,
        "tts_rtf": round(tts_proc / tts_audio, 3) if tts_audio else None,
        "stt_audio_s": round(stt_audio, 2),
        "tts_audio_s": round(tts_audio, 2),
        "false_interruptions": [
            {"at_s": timeline.offset(f["at"]), "resumed": f["resumed"]} for f in false_interruptions
        ],
        "input_max_lateness_s": round(mic.max_lateness, 3),
        "_true_end_by_row": true_end_by_row,
    }


def _assistant_for_line(
    history: llm.ChatContext, model: LineTrackingReplay, line: int
) -> dict[str, Any] | None:
    """LiveKit's metrics for the line: its own message's EOU figures and the first reply's."""
    found: dict[str, Any] | None = None
    current: int | None = None
    for item in history.items:
        if item.type != "message":
            continue
        if item.role == "user":
            current = model.message_line.get(item.id, current)
            if current == line:
                found = dict(item.metrics)
        elif item.role == "assistant" and current == line and found is not None:
            return {**found, **dict(item.metrics)}
    return found


def _overlap_checks(
    entry: dict[str, Any],
    utt: Utterance,
    speaker: RehearsalSpeaker,
    history: llm.ChatContext,
    backchannel: bool,
    failures: list[str],
) -> None:
    start = utt.started_at or 0.0
    pause = next((p for p in speaker.pauses if p >= start), None)
    clear = next((c for c in speaker.clears if c >= start), None)
    stops = [t for t in (pause, clear) if t is not None]
    entry["time_to_pause_s"] = round(pause - start, 3) if pause else None
    entry["time_to_clear_s"] = round(clear - start, 3) if clear else None
    entry["time_to_stop_s"] = round(min(stops) - start, 3) if stops else None
    # The segment that was playing when the line started.
    seg = next(
        (s for s in speaker.segments if s.started_at <= start and (s.ended_at or 1e18) > start),
        None,
    )
    label = f"caller line {utt.index + 1} ({utt.text!r})"
    if backchannel:
        cut = seg is not None and seg.interrupted
        entry["agent_cut_off"] = cut
        if cut:
            failures.append(f"{label}: a backchannel cut the agent off")
        return
    since = seg.started_at if seg is not None else start
    interrupted = [
        item.text_content
        for item in history.items
        if item.type == "message"
        and item.role == "assistant"
        and item.interrupted
        and item.created_at >= since - 60
        and (stops and item.created_at <= max(stops) + 5)
    ]
    entry["interrupted_agent_text"] = interrupted[0] if interrupted else None
    stop = entry["time_to_stop_s"]
    speech_s = len(utt.pcm) / RATE
    entry["stop_after_caller_finished_s"] = None if stop is None else round(stop - speech_s, 3)
    # A barge-in passes when the agent stopped and its reply was cut before its natural end.
    # How soon is a figure (stop_after_caller_finished_s; bench/local_loop.py): with
    # `min_interruption_words` 2 and a non-streaming STT it is the line's transcription,
    # ~0.9 s idle and 5.6 s measured with the machine loaded, so no bound here.
    if stop is None:
        failures.append(f"{label}: the agent never stopped for the barge-in")
    elif seg is not None and not seg.interrupted:
        failures.append(f"{label}: the agent paused but then played its reply to the end")
    if not interrupted:
        failures.append(f"{label}: no agent message is marked interrupted")


# Re-exported for the CLI and tests.
__all__ = [
    "AudioOptions",
    "CallerMic",
    "RehearsalSpeaker",
    "Timeline",
    "normalize",
    "play_audio",
    "speak",
    "wer",
    "word_errors",
]

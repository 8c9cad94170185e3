"""The audio rehearsal's phone line: the caller's mic, the agent's speaker, their timeline.

`CallerMic` is the session's `io.AudioInput` (20 ms frames in real time), `RehearsalSpeaker` its
`io.AudioOutput` (plays out in real time, pauses and clears like a room's output); both write
into one `Timeline`, which becomes the stereo WAV (caller left, agent right).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import wave
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents.voice import io

RATE = 16_000  # the rehearsal's line: caller, agent and the WAV all at 16 kHz
FRAME_S = 0.02
FRAME = int(RATE * FRAME_S)


def pcm_to_16k(pcm: np.ndarray[Any, np.dtype[np.int16]], rate: int) -> np.ndarray[Any, Any]:
    if rate == RATE or len(pcm) == 0:
        return pcm
    resampler = rtc.AudioResampler(rate, RATE, quality=rtc.AudioResamplerQuality.HIGH)
    out = resampler.push(bytearray(pcm.tobytes())) + resampler.flush()
    return np.concatenate([np.frombuffer(f.data, np.int16) for f in out])


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


def agent_quiet(session: Any, speaker: RehearsalSpeaker) -> bool:
    """The agent has nothing left to say: listening (or idle), no speech pending, and the
    speaker has played out its last segment."""
    speech = session.current_speech
    return (
        session.agent_state in ("listening", "idle")
        and (speech is None or speech.done())
        and not speaker.playing
    )

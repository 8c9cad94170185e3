"""LiveKit's own minimal voice agent, for the load bench's `--stack bare` (issue 18).

    python -m bench.load_bare start     # what `bench load --stack bare` runs per N

No callcrew code runs in its jobs: an `AgentSession` with LiveKit's defaults (synced
transcription, its own room I/O) but the cloud stack's turn values, Silero loaded in prewarm,
and the same providers as the cloud stack's load run (bench/load_fakes.py): the
Deepgram-like streaming STT fake, the tone TTS, the real OpenAI plugin against the harness's LLM
stub. Its CPU per call is the floor of any agent built on livekit-agents' process-per-call
design on this machine, so the cloud stack's figure reads against it: what callcrew adds, and
what no agent code can take away.

Environment: LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET (LiveKit's own), AGENT_NAME,
LLM_BASE_URL, NUM_IDLE_PROCESSES, the fakes' BENCH_STT_MS / BENCH_TTS_MS. It reports itself
never full (a raw capacity run).
"""

from __future__ import annotations

import os
from typing import Any

# before livekit.agents is imported: no 244 MB end-of-turn model in the forkserver, as for
# callcrew's worker with VAD turn-taking (docs/benchmarks.md, memory per call)
os.environ.setdefault("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")

from livekit.agents import Agent, AgentServer, AgentSession, JobContext, JobProcess, cli
from livekit.agents.voice.turn import TurnHandlingOptions
from livekit.plugins import openai, silero

from bench.load_fakes import streaming_stt, tone_tts

GREETING = "Thanks for calling Maple Street Salon, how can I help you today?"
INSTRUCTIONS = "You are a salon's phone receptionist. Answer in one short sentence."


# The cloud stack's turn values (turn_defaults.py, streaming), so a call is as busy as there;
# LiveKit's VAD turn detection instead of callcrew's word detector.
VAD_MIN_SILENCE = 0.25
TURN_HANDLING: TurnHandlingOptions = {
    "turn_detection": "vad",
    "endpointing": {"min_delay": 0.2, "max_delay": 2.0},
}


def prewarm(proc: JobProcess) -> None:
    proc.userdata["vad"] = silero.VAD.load(min_silence_duration=VAD_MIN_SILENCE)


async def entrypoint(ctx: JobContext) -> None:
    session: AgentSession[None] = AgentSession(
        stt=streaming_stt(),
        llm=openai.LLM(model="gpt-4.1-mini", base_url=os.environ["LLM_BASE_URL"], api_key="stub"),
        tts=tone_tts(),
        vad=ctx.proc.userdata["vad"],
        turn_handling=TURN_HANDLING,
    )
    await session.start(agent=Agent(instructions=INSTRUCTIONS), room=ctx.room)
    await ctx.connect()
    session.say(GREETING)


def never_full() -> float:
    return 0.0


def build() -> AgentServer:
    idle = os.environ.get("NUM_IDLE_PROCESSES")
    extra: dict[str, Any] = {"num_idle_processes": int(idle)} if idle else {}
    server = AgentServer(
        setup_fnc=prewarm,
        load_fnc=never_full,
        initialize_process_timeout=30.0,
        port=0,
        **extra,
    )
    server.rtc_session(entrypoint, agent_name=os.environ.get("AGENT_NAME", "callcrew-load"))
    return server


if __name__ == "__main__":
    cli.run_app(build())

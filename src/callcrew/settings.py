"""Every setting callcrew reads, validated in one place.

Values come from the environment and from `.env` and `.env.local` in the working directory
(documented in `.env.example`): LiveKit's CLI (`lk app env -w`) writes `.env.local`, so a LiveKit
user's keys are found; where both files set a value `.env` wins, and the environment beats both.
Problems are collected and reported together in plain words: a user fixing a deployment
should see every missing or wrong value in one run, not one per restart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from callcrew.context import ContextPolicy
from callcrew.settings_errors import SettingsError as SettingsError  # re-exported
from callcrew.settings_errors import describe_error
from callcrew.settings_values import (
    BLOCK_RE,
    EOT_MIN_VAD_SILENCE,
    AudioRate,
    AutoSwitch,
    EndpointingMode,
    JobExecutor,
    LogLevel,
    StackName,
    TurnDetection,
    VadEngine,
    database_url,
    split_url,
)
from callcrew.turn_defaults import TURN_DEFAULTS, stt_kind

# Read in this order, later files winning: `.env` overrides `.env.local` (which LiveKit's CLI
# writes), so a value a user put in `.env` on purpose is never shadowed by a generated file.
ENV_FILES: tuple[str, ...] = (".env.local", ".env")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=ENV_FILES,
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )
    # the turn-taking values (TURN_DEFAULTS keys) set explicitly, not filled per stack
    _turn_given: frozenset[str] = PrivateAttr(default_factory=frozenset)

    # --- LiveKit -----------------------------------------------------------------------------
    livekit_url: str | None = Field(None, description="ws(s):// URL of the LiveKit server")
    livekit_api_key: str | None = None
    livekit_api_secret: SecretStr | None = None
    agent_name: str = Field("callcrew", min_length=1, max_length=64)
    # LiveKit stops dispatching to a worker whose CPU load is at or above this (its production
    # default is 0.7). On a small box running local models, raise it or calls are refused.
    worker_load_threshold: float = Field(0.7, gt=0, le=1)
    # After SIGTERM the worker takes no new calls and waits this long for the current ones;
    # unset: MAX_CALL_SECONDS + 2 min, so a call in progress is never cut off by a deploy.
    drain_timeout: int | None = Field(None, ge=1, le=24 * 3600)
    # Capacity (callcrew/load.py, docs/operations.md; measured by `python -m bench load`): the
    # worker reports itself full at WORKER_MAX_CALLS calls, or when the CPU average reaches
    # WORKER_CPU_FULL of the machine; unset max calls: the measured calls per core of the stack
    # (cloud providers or local models) times the machine's cores.
    worker_max_calls: int | None = Field(None, ge=1, le=1000)
    worker_cpu_full: float = Field(0.95, ge=0, le=1)  # 0: the CPU is not counted
    # process: one job process per call (LiveKit's pool, crash-isolated); thread: every call in
    # the worker's own process. Idle processes kept warm (unset: LiveKit's, one per core).
    job_executor: JobExecutor = "process"
    num_idle_processes: int | None = Field(None, ge=0, le=64)

    # --- The crew ----------------------------------------------------------------------------
    crew: str = Field("default", description="entry point name in the 'callcrew.crews' group")
    task_agent: str | None = Field(None, description="overrides the business profile's task")
    business_profile: Path | None = Field(None, description="YAML business profile")
    prompts_dir: Path | None = Field(None, description="folder of the crew's prompt files")

    # --- Stack and providers -----------------------------------------------------------------
    stack: StackName = "economy"
    stt: str | None = Field(None, description="override, e.g. deepgram/nova-3")
    llm: str | None = Field(None, description="override, e.g. openai/gpt-4.1-nano")
    tts: str | None = Field(None, description="override, e.g. cartesia/sonic-turbo")
    deepgram_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    cartesia_api_key: SecretStr | None = None
    elevenlabs_api_key: SecretStr | None = None
    llm_base_url: str | None = Field(None, description="any OpenAI-compatible endpoint")
    local_tts_voice: str = "heart"
    local_stt_threads: int = Field(2, ge=1, le=64)

    # --- Fallback chains and per-attempt timeouts (providers/fallback.py, docs/reliability.md) -
    # Comma-separated provider/model lists tried after the block's own provider, in order, e.g.
    # LLM_FALLBACK=openai/gpt-4.1-nano ; STT_FALLBACK=local/tiny.en ; TTS_FALLBACK=local/heart.
    llm_fallback: str | None = Field(None, description="LLMs tried after LLM, in order")
    stt_fallback: str | None = Field(None, description="STTs tried after STT, in order")
    tts_fallback: str | None = Field(None, description="TTSs tried after TTS, in order")
    # A caller hangs up after a few seconds of silence: one attempt may take seconds, not the
    # framework's 10 s x 4 tries. The LLM figure bounds the wait for its first token.
    llm_attempt_timeout: float = Field(4.0, gt=0, le=60)
    stt_attempt_timeout: float = Field(3.0, gt=0, le=60)
    tts_attempt_timeout: float = Field(2.0, gt=0, le=60)
    # Retries of one provider before the next in the chain; 0: the chain is the retry.
    provider_retries: int = Field(0, ge=0, le=5)
    # A short phrase ("One moment, please.") when the first LLM token is this late; 0 disables.
    filler_after: float = Field(1.5, ge=0, le=30)

    # --- Turn-taking (set explicitly: the framework's defaults call LiveKit's cloud) ---------
    # The four values below default per kind of STT (TURN_DEFAULTS above: streaming for the
    # economy and premium stacks, batch for local); the field defaults are the streaming ones.
    vad_min_silence: float = Field(0.25, gt=0, le=5)
    vad_activation_threshold: float = Field(0.5, gt=0, lt=1)
    # silero: the Silero plugin; inference: LiveKit's native local Silero (livekit-local-inference).
    vad_engine: VadEngine = "silero"
    # vad: the turn ends after VAD silence + endpointing min delay; eot: LiveKit's local audio
    # end-of-turn model (TurnDetector v1-mini, in the wheel, no network) waits min_delay when it
    # hears a finished turn and max_delay when it hears a pause; words: our dictation-aware
    # text detector (providers/turn_words.py) does the same from the transcript
    # (python -m bench turntaking; docs/benchmarks.md).
    turn_detection: TurnDetection = "words"
    # words: how long an open dictation (an address, a lone surname, a date of birth without
    # its year) waits before it commits; empty: ENDPOINTING_MAX_DELAY, as a pause mid-item does
    # (providers/turn_words.py).
    turn_words_hold: float | None = Field(1.2, ge=0, le=10)
    endpointing_mode: EndpointingMode = "fixed"  # dynamic: min delay learned from the caller
    endpointing_min_delay: float = Field(0.2, ge=0, le=10)
    endpointing_max_delay: float = Field(2.0, gt=0, le=30)
    interruptions: bool = True
    min_interruption_duration: float = Field(0.5, ge=0, le=5)
    # Words the STT must hear before caller speech interrupts the agent: 2 lets a one-word
    # backchannel ("mm-hmm", "right") pass without cutting the agent off (docs/benchmarks.md).
    min_interruption_words: int = Field(2, ge=0, le=10)
    false_interruption_timeout: float | None = Field(2.0, ge=0, le=30)
    preemptive_generation: bool = True
    # Also synthesize the preemptive reply before the turn is confirmed (costs TTS on discards).
    preemptive_tts: bool = False
    user_away_timeout: float = Field(15.0, gt=0, le=600)
    # A streaming STT (Deepgram) bills all audio it is sent, and LiveKit sends it every frame:
    # the gate sends the caller's speech plus a pre-roll (providers/gated_stt.py; measured in
    # docs/costs.md). A non-streaming STT (Whisper) is already VAD-cut and is not wrapped.
    stt_vad_gate: bool = True
    # Whisper hears each utterance after the turn's earlier ones (providers/turn_stt.py), so a
    # short VAD silence does not hand it fragments; off: one utterance at a time (LiveKit's).
    stt_turn_context: bool = True
    stt_gate_pre_roll_s: float = Field(0.5, ge=0, le=3)
    stt_gate_post_roll_s: float = Field(0.3, ge=0, le=3)
    # The caller's audio as the session hears it. A phone line carries 8 kHz (G.711) or 16 kHz
    # (G.722); 16 kHz is what Silero and the STTs run at, so no frame is resampled twice.
    audio_input_rate: AudioRate = 16000
    # The agent's words published to the room in step with its audio. Kept on for every call:
    # the synchroniser is also what tells LiveKit how much of an interrupted line was heard, so
    # without it the agent (and the report) remembers the whole line. off saves ~0.04 cores a
    # call (docs/benchmarks.md); auto: on for web callers only.
    room_transcription: AutoSwitch = "on"
    # LiveKit's session host (a RemoteSession can observe the call): auto = web callers only.
    session_host: AutoSwitch = "auto"
    silence_nudges: int = Field(2, ge=0, le=10, description="nudges before a silent call ends")
    max_call_seconds: float = Field(1800.0, gt=0, le=6 * 3600)

    # --- Telephony ----------------------------------------------------------------------------
    sip_config: Path = Field(Path("sip.yaml"), description="declarative trunks and dispatch rules")
    sip_outbound_trunk: str | None = Field(None, description="trunk name in sip.yaml for dialing")
    answering_machine_detection: bool = True
    playground_url: str = "https://agents-playground.livekit.io"

    # --- CRM webhook ----------------------------------------------------------------------------
    crm_webhook_url: str | None = Field(None, description="POST each call report here")
    crm_webhook_secret: SecretStr | None = None
    crm_webhook_max_attempts: int = Field(8, ge=1, le=100)
    crm_webhook_allow_unsigned: bool = Field(False, description="start without a secret")
    crm_webhook_retry_interval: float = Field(
        30.0, ge=0, le=86400, description="seconds between outbox rounds while idle; 0: off"
    )

    # --- Context kept for the model (bounded cost and latency on long calls) ---------------
    context_max_turns: int = Field(6, ge=0, le=1000, description="0 keeps everything")
    context_summary_chars: int = Field(800, ge=0, le=20000)
    context_trim_step: int = Field(4, ge=1, le=100, description="old turns leave in blocks")

    # --- Phrase cache: fixed phrases synthesized once, played from disk ---------------------
    phrase_cache_dir: Path | None = Field(
        Path("var/phrases"), description="folder of cached phrases; empty disables the cache"
    )

    # --- Operators: dashboard and metrics ----------------------------------------------------
    dashboard_token: SecretStr | None = Field(
        None, description="required when `callcrew dashboard` listens beyond loopback"
    )
    prometheus_port: int | None = Field(
        None, ge=0, le=65535, description="the worker serves Prometheus metrics on :PORT/metrics"
    )
    # Job processes write their metrics here so the worker's endpoint can sum them.
    prometheus_multiproc_dir: Path = Path("var/prometheus")

    # --- Side LLMs: the LLM-played caller, the judges, post-call analysis --------------------
    # Each has its own model, endpoint and key, apart from the crew's (a key falls back to
    # OPENAI_API_KEY). See metrics/side_llm.py.
    caller_llm_model: str = Field("gpt-4.1-mini", min_length=1, max_length=200)
    caller_llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint")
    caller_llm_api_key: SecretStr | None = None
    caller_max_turns: int = Field(12, ge=1, le=100, description="caller lines before giving up")
    judge_llm_model: str = Field("gpt-4.1-mini", min_length=1, max_length=200)
    judge_llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint")
    judge_llm_api_key: SecretStr | None = None
    analysis: bool = Field(True, description="post-call analysis, when its LLM is reachable")
    analysis_llm_model: str = Field("gpt-4.1-mini", min_length=1, max_length=200)
    analysis_llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint")
    analysis_llm_api_key: SecretStr | None = None
    analysis_timeout_s: float = Field(20.0, gt=0, le=300)
    analysis_max_output_tokens: int = Field(400, ge=50, le=4000)
    analysis_max_input_chars: int = Field(12000, ge=500, le=200000)

    # --- Store, reports, logs ----------------------------------------------------------------
    database_url: str = "sqlite:///var/callcrew.db"
    reports_dir: Path = Path("var/reports")
    report_save_retry_s: float = Field(
        60.0, ge=0, le=240, description="how long a call's end keeps retrying a busy store"
    )
    prices_file: str | None = Field(None, description="price catalog: name or YAML path")
    # Price calls with LiveKit (server, SIP, worker host) on your machines instead of the Cloud
    # plan, by compute at the catalog's $/vCPU-hour (or VCPU_HOUR_USD).
    livekit_self_hosted: bool = False
    vcpu_hour_usd: float | None = Field(None, ge=0, le=1000, allow_inf_nan=False)
    log_level: LogLevel = "INFO"
    # The worker's health-check HTTP port (LiveKit: 8081 in start, any free port in dev); set
    # it to run two workers on one host. 0 = any free port.
    worker_port: int | None = Field(None, ge=0, le=65535)
    # Where the worker writes the health port it got (with WORKER_PORT=0, e.g. several replicas
    # on one host network): the image's HEALTHCHECK reads it.
    health_port_file: Path | None = None

    @field_validator("stt", "llm", "tts")
    @classmethod
    def _block_format(cls, v: str | None) -> str | None:
        if v is not None and not BLOCK_RE.match(v):
            raise ValueError("must look like provider/model, e.g. deepgram/nova-3")
        return v

    @field_validator("llm_fallback", "stt_fallback", "tts_fallback")
    @classmethod
    def _chain_format(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        # An entry's `;base_url=...;api_key_env=...` options are checked with the chain
        # (providers/stacks.py); here only its provider/model head.
        heads = [b.split(";")[0].strip() for b in v.split(",")]
        bad = [h for h in heads if not BLOCK_RE.match(h)]
        if bad:
            # Never echo something that looks like a URL: it may carry a password.
            shown = repr(bad[0]) if "://" not in bad[0] and "@" not in bad[0] else "one entry"
            raise ValueError(
                f"entry {shown} must look like provider/model, e.g. local/tiny.en "
                "(an LLM entry may add ;base_url=URL;api_key_env=NAME)"
            )
        return v

    @field_validator("livekit_url")
    @classmethod
    def _url_scheme(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(wss?|https?)://[^\s/]+", v):
            raise ValueError("must start with ws://, wss://, http:// or https:// and name a host")
        if v is not None:
            parts = split_url(v)
            if parts.username is not None or parts.password is not None:
                # The SDK refuses credentials in the URL; they belong in the API key/secret.
                raise ValueError(
                    "must not hold a user name or password (user:password@...); "
                    "use LIVEKIT_API_KEY and LIVEKIT_API_SECRET"
                )
        return v

    @field_validator("llm_base_url")
    @classmethod
    def _llm_url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must start with http:// or https:// and name a host")
        split_url(v)
        return v

    @field_validator("caller_llm_base_url", "judge_llm_base_url", "analysis_llm_base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v == "":
            return None  # `NAME=` in .env means unset
        if v is not None and not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must start with http:// or https:// and name a host")
        return v

    @field_validator("database_url")
    @classmethod
    def _db_scheme(cls, v: str) -> str:
        return database_url(v)

    @field_validator("phrase_cache_dir", "turn_words_hold", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if v == "" else v

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @model_validator(mode="wrap")
    @classmethod
    def _turn_defaults(cls, data: Any, handler: Any) -> Any:
        """Fill the turn-taking values nobody set from TURN_DEFAULTS for this stack's STT, and
        remember which ones were set (`turn_values_given`)."""
        if not isinstance(data, dict):
            return handler(data)
        given = {str(k).lower() for k, v in data.items() if v is not None}
        kind = stt_kind(str(data.get("stack") or "economy"), data.get("stt") or None)
        made = handler({**{k: v for k, v in TURN_DEFAULTS[kind].items() if k not in given}, **data})
        made._turn_given = frozenset(k for k in TURN_DEFAULTS[kind] if k in given)
        return made

    @property
    def turn_values_given(self) -> frozenset[str]:
        """The TURN_DEFAULTS values set explicitly (environment, .env, arguments)."""
        return self._turn_given

    @model_validator(mode="after")
    def _delays_ordered(self) -> Settings:
        if self.endpointing_max_delay < self.endpointing_min_delay:
            raise ValueError("ENDPOINTING_MAX_DELAY must not be below ENDPOINTING_MIN_DELAY")
        if self.turn_detection == "eot" and self.vad_min_silence < EOT_MIN_VAD_SILENCE:
            raise ValueError(
                f"TURN_DETECTION=eot needs VAD_MIN_SILENCE >= {EOT_MIN_VAD_SILENCE} "
                "(LiveKit's turn detector predicts after 0.2 s of silence)"
            )
        return self

    # --- What each command needs ---------------------------------------------------------------

    def livekit_problems(self) -> list[str]:
        problems = []
        if not self.livekit_url:
            problems.append("LIVEKIT_URL is not set (e.g. ws://127.0.0.1:7880 or your Cloud URL)")
        if not self.livekit_api_key:
            problems.append("LIVEKIT_API_KEY is not set")
        if not self.livekit_api_secret or not self.livekit_api_secret.get_secret_value():
            problems.append("LIVEKIT_API_SECRET is not set")
        return problems

    def require_livekit(self) -> None:
        if problems := self.livekit_problems():
            raise SettingsError(problems)

    def livekit_secret(self) -> str:
        return self.livekit_api_secret.get_secret_value() if self.livekit_api_secret else ""


def load_settings(**overrides: Any) -> Settings:
    """Build Settings or raise SettingsError listing every problem at once."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_error(e) for e in exc.errors()) from None  # type: ignore[arg-type]
    except UnicodeDecodeError as exc:
        # pydantic-settings reads .env from the working directory without naming it.
        env_file = Path(".env").resolve()
        raise SettingsError(
            [f"{env_file}: not UTF-8 text (byte at offset {exc.start}); save it as UTF-8"]
        ) from None


def context_policy(settings: Settings) -> ContextPolicy:
    return ContextPolicy(
        max_turns=settings.context_max_turns,
        summary_chars=settings.context_summary_chars,
        step=settings.context_trim_step,
    )

"""The worker's load as LiveKit reads it (callcrew/load.py), and how build_server wires the
capacity settings (executor, idle processes, load function, preloads) into the AgentServer."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from livekit.agents import JobExecutorType

from callcrew import worker
from callcrew.load import CALLS_PER_CORE, CallLoad, default_max_calls
from callcrew.providers import stacks
from callcrew.settings import Settings, SettingsError, load_settings

pytestmark = pytest.mark.unit


def _settings(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


def test_calls_reach_the_threshold_exactly_at_max_calls() -> None:
    load = CallLoad(threshold=0.7, max_calls=20, cpu_full=0.95)
    assert load.of(19, 0.1) < 0.7  # the 20th call is still accepted
    assert load.of(20, 0.1) == pytest.approx(0.7)  # then the worker is full
    assert load.of(10, 0.1) == pytest.approx(0.35)


def test_a_busy_cpu_fills_the_worker_before_max_calls() -> None:
    load = CallLoad(threshold=0.7, max_calls=20, cpu_full=0.9)
    assert load.of(2, 0.9) == pytest.approx(0.7)
    assert load.of(2, 1.0) == pytest.approx(0.7)  # capped: never above the threshold by CPU
    assert load.of(2, 0.45) == pytest.approx(0.35)


def test_without_max_calls_the_load_is_the_cpu_and_cpu_full_zero_ignores_it() -> None:
    assert CallLoad(threshold=0.7, max_calls=None, cpu_full=1.0).of(50, 0.5) == pytest.approx(0.35)
    ignore = CallLoad(threshold=1.0, max_calls=None, cpu_full=0.0)
    assert ignore.of(50, 1.0) == 0.0  # the load bench's "never refuse"


def test_the_load_function_counts_the_servers_active_jobs() -> None:
    load = CallLoad(threshold=0.5, max_calls=4, cpu_full=0.0)
    server = SimpleNamespace(active_jobs=[object(), object()])
    assert load(server) == pytest.approx(0.25)


def test_build_server_wires_the_capacity_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(worker.PRELOAD_LOCAL_INFERENCE_ENV, "restored after the test")
    monkeypatch.delenv(worker.PRELOAD_LOCAL_INFERENCE_ENV)
    server = worker.build_server(
        _settings(job_executor="thread", num_idle_processes=3, worker_max_calls=12)
    )
    assert server._job_executor_type is JobExecutorType.THREAD
    assert server._num_idle_processes == 3
    assert isinstance(server._load_fnc, CallLoad) and server._load_fnc.max_calls == 12
    assert "callcrew.preload" in server._preload_modules
    # VAD turn-taking with the Silero plugin: LiveKit's own local models are never loaded
    assert os.environ[worker.PRELOAD_LOCAL_INFERENCE_ENV] == "0"


def test_the_end_of_turn_model_keeps_livekits_preload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(worker.PRELOAD_LOCAL_INFERENCE_ENV, "restored after the test")
    monkeypatch.delenv(worker.PRELOAD_LOCAL_INFERENCE_ENV)
    server = worker.build_server(_settings(turn_detection="eot", vad_min_silence=0.3))
    assert server._job_executor_type is JobExecutorType.PROCESS  # the default
    assert worker.PRELOAD_LOCAL_INFERENCE_ENV not in os.environ


def test_a_bad_executor_is_a_clear_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOB_EXECUTOR", "fork")
    with pytest.raises(SettingsError, match="JOB_EXECUTOR"):
        load_settings()


def test_plugin_modules_add_providers_in_every_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(stacks.PLUGIN_MODULES_ENV, "bench.load_plugins")
    assert "bench" in stacks.known_providers("stt")
    assert "bench" in stacks.known_providers("tts")
    choice = stacks.resolve_stack(_settings(stt="bench/streaming", tts="bench/tone"))
    assert str(choice.stt) == "bench/streaming"


def test_the_forkserver_preload_imports_the_job_code() -> None:
    import callcrew.preload  # noqa: F401  (imports only: safe in a test process too)

    assert worker.entrypoint.__module__ == "callcrew.job.entrypoint"


def test_the_health_port_file_holds_the_port(tmp_path: Path) -> None:
    path = tmp_path / "port"
    settings = _settings(health_port_file=path)
    server = SimpleNamespace(_http_server=SimpleNamespace(port=43210))
    worker._write_health_port(server, settings)  # type: ignore[arg-type]
    assert path.read_text().strip() == "43210"


def test_unset_max_calls_is_the_measured_figure_per_core() -> None:
    cloud, local = CALLS_PER_CORE["cloud"], CALLS_PER_CORE["local"]
    assert default_max_calls(False, cores=2) == int(cloud * 2)
    assert default_max_calls(True, cores=2) == int(local * 2)
    assert default_max_calls(True, cores=0.5) >= 1  # a small container still takes a call
    local_worker = worker.build_server(_settings(stack="local", llm_base_url="http://x/v1"))
    assert isinstance(local_worker._load_fnc, CallLoad)
    assert local_worker._load_fnc.max_calls == default_max_calls(True)
    cloud_worker = worker.build_server(_settings())
    assert isinstance(cloud_worker._load_fnc, CallLoad)
    assert cloud_worker._load_fnc.max_calls == default_max_calls(False)


def test_prewarm_takes_the_forkservers_vad_only_with_the_same_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import callcrew.preload as preload

    monkeypatch.delenv("VAD_MIN_SILENCE", raising=False)
    monkeypatch.setattr(preload, "VAD", object())
    monkeypatch.setattr(preload, "VAD_KEY", preload.vad_key(load_settings()))
    proc = SimpleNamespace(userdata={})
    worker.prewarm(proc)  # type: ignore[arg-type]
    assert proc.userdata["vad"] is preload.VAD  # shared copy-on-write, not loaded again
    monkeypatch.setenv("VAD_MIN_SILENCE", "0.3")
    worker.prewarm(proc)  # type: ignore[arg-type]
    assert proc.userdata["vad"] is not preload.VAD  # other settings: its own VAD
    assert proc.userdata["vad"]._opts.min_silence_duration == pytest.approx(0.3)

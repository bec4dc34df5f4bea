"""What the App shows while and after a run: progress text at once, the reason when samples
fail, a visible error when the run stops as a whole, why a run cost nothing, and that closing
the App stops the requests."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from typing import Any

import pytest
from support.datasets import DatasetFactory

pytestmark = pytest.mark.fiftyone

fo = pytest.importorskip("fiftyone")
foo = pytest.importorskip("fiftyone.operators")

from fiftyone.operators.executor import ExecutionContext, Executor  # noqa: E402

from gemini_vision.adapters import history  # noqa: E402
from gemini_vision.api import RetryPolicy  # noqa: E402
from gemini_vision.engine import compose  # noqa: E402

PLUGIN = "@gemini-vision/gemini"


def app_messages(dataset: Any, name: str, **params: Any) -> list[tuple[str, dict[str, Any]]]:
    """Runs operator ``name`` as the App does (a generator, with an executor and the
    operator's URI in the request) and returns (message kind, its parameters)."""
    operator = foo.get_operator(f"{PLUGIN}/{name}")
    request = {"dataset_name": dataset.name, "operator_uri": operator.uri, "params": params}
    ctx = ExecutionContext(request_params=request, executor=Executor())
    messages = list(operator.execute(ctx))
    return [
        (m.body.operator_uri.split("/")[-1], m.body.params) for m in messages if m.body is not None
    ]


def notification(messages: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The parameters of the run's (one) notification."""
    (params,) = [p for kind, p in messages if kind == "notify"]
    return params


@pytest.fixture(scope="module")
def dataset(datasets: DatasetFactory) -> Any:
    return datasets.scenes(2, seed=21)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    quick = RetryPolicy(initial_delay=0.01, max_delay=0.02, jitter=0.0)
    monkeypatch.setattr(compose, "RetryPolicy", lambda: dataclasses.replace(quick))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_gemini_shows_progress_at_once_and_says_why_samples_failed(
    dataset: Any, fast_retries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-app-messages")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", f"http://127.0.0.1:{closed_port()}")
    messages = app_messages(dataset, "caption_images", label_field="unreachable")
    kind, first = messages[0]
    assert kind == "set_progress" and first["label"].startswith("Sending 2 image(s)")
    last = notification(messages)
    assert last["variant"] == "warning"
    assert "0 labelled, 2 failed" in last["message"]
    assert "Most common reason (2x)" in last["message"] and "failed (Connect" in last["message"]


def test_a_run_that_stops_as_a_whole_is_a_visible_error(
    dataset: Any, plugin_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin_env.config.rejected_api_keys = {"test-key-refused"}
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-refused")
    try:
        messages = app_messages(dataset, "caption_images", label_field="refused")
    finally:
        plugin_env.config.rejected_api_keys = set()
    last = notification(messages)
    assert last["variant"] == "error"
    assert "The API key was refused" in last["message"] and "fix the key" in last["message"]
    progress = [p["label"] for k, p in messages if k == "set_progress"]
    assert progress[-1].startswith("Stopped: The API key was refused")


def test_a_run_answered_from_the_cache_says_why_it_cost_nothing(
    datasets: DatasetFactory, dataset: Any, plugin_env: Any
) -> None:
    app_messages(dataset, "caption_images", label_field="first")
    again = notification(app_messages(dataset, "caption_images", label_field="first"))
    assert "Nothing to do: all 2 samples already have a result in 'first'" in again["message"]
    # the same images in another dataset are answered from the cache
    twin = datasets.samples(fo.Sample(filepath=p) for p in dataset.values("filepath"))
    messages = app_messages(twin, "caption_images", label_field="first")
    last = notification(messages)
    assert last["variant"] == "success"
    assert "2 answered from the response cache" in last["message"]
    assert "no cost" in last["message"]
    # and the output view shows what the run did
    (shown,) = [p for kind, p in messages if kind == "show_output"]
    assert "answered from the cache | 2 |" in shown["results"]["markdown"]
    assert shown["outputs"]["type"]["properties"]["markdown"]["view"]["name"] == "MarkdownView"


def operator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "gemini-vision-operator"]


def answered(emulator: Any) -> int:
    """generateContent requests the emulator has answered (counted when answered)."""
    return sum(
        n for (endpoint, status), n in emulator.stats.responses.items() if "generate" in endpoint
    )


def test_closing_the_app_stops_the_requests(
    datasets: DatasetFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The App closes an immediate run's generator when it goes away: the requests already
    in flight are answered and stored, and not one more is sent."""
    from gemini_vision.emulator import Emulator, EmulatorConfig

    many = datasets.scenes(48, seed=22)
    concurrency = 4
    # 0.5 s a call, the work included: about 8 answers a second at this concurrency, so the
    # first progress message (once a second) comes well before half the samples are answered
    with Emulator(EmulatorConfig(latency=0.5)) as gemini:
        monkeypatch.setenv("GEMINI_API_KEY", "test-key-closed-run")
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", gemini.base_url)
        operator = foo.get_operator(f"{PLUGIN}/detect_objects")
        params = {"label_field": "closed", "classes": ["circle"], "concurrency": concurrency}
        request = {"dataset_name": many.name, "operator_uri": operator.uri, "params": params}
        messages = operator.execute(ExecutionContext(request_params=request, executor=Executor()))
        for _ in messages:  # progress arrives once a second; close once a few are answered
            if answered(gemini) >= 2 * concurrency:
                break
        messages.close()  # sets the job's cancel event before it returns
        at_close = answered(gemini)  # at most `concurrency` requests are in flight now
        for _ in range(200):  # the job's thread ends within the stop's grace period
            if not operator_threads():
                break
            time.sleep(0.05)
        assert not operator_threads()
        after = answered(gemini) - at_close
    assert after <= concurrency, f"{after} requests answered after the App closed the run"
    assert at_close + after < len(many) // 2
    many.reload()
    labelled = many.exists("closed").count()
    assert labelled == at_close + after  # every answer paid for is stored
    assert many.count() - labelled > len(many) // 2  # the rest waits for a rerun
    (run,) = history.run_history(many)  # the panel's run history says what happened
    assert run.status == "stopped" and run.labelled == labelled
    assert run.stopped_reason is not None and "run again" in run.stopped_reason

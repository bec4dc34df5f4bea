"""Errors the FiftyOne side raises are the package's own, each saying what to do.

- ``run_task`` while another worker holds the field's dataset lock: ``LockBusyError`` (a
  ``GeminiVisionError``), not a bare ``Exception``.
- ``ask_about_samples`` raises the error that stopped the answer - blocked, cut off, a server
  error, a refused key - never a ``ConfigurationError`` for what is not configuration.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from support.datasets import DatasetFactory

pytestmark = pytest.mark.fiftyone

fo = pytest.importorskip("fiftyone")

from gemini_vision import RunSettings, ask_about_samples, run_task  # noqa: E402
from gemini_vision.adapters.mongo import work_claims  # noqa: E402
from gemini_vision.api import RetryPolicy  # noqa: E402
from gemini_vision.emulator import Emulator, EmulatorConfig  # noqa: E402
from gemini_vision.errors import (  # noqa: E402
    BlockedResponseError,
    ConfigurationError,
    GeminiVisionError,
    LockBusyError,
    RunStoppedError,
    ServerError,
    TruncatedResponseError,
)
from gemini_vision.tasks import TaskSpec  # noqa: E402

KEY = "test-key-errors-0001"
NO_RETRY = RetryPolicy.never()


@pytest.fixture(scope="module")
def dataset(datasets: DatasetFactory) -> Any:
    return datasets.scenes(3, seed=77)


def test_a_held_dataset_lock_is_a_lock_busy_error_that_says_what_to_do(dataset: Any) -> None:
    group = f"{dataset._doc.id}/busy_field"
    held, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        with work_claims(group, lease_seconds=30) as claims, claims.exclusive("dataset"):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=other_worker, daemon=True)
    thread.start()
    assert held.wait(10)
    try:
        with Emulator() as emu:
            settings = RunSettings(api_key=KEY, base_url=emu.base_url, lease_seconds=0.2)
            started = time.monotonic()
            with pytest.raises(LockBusyError) as caught:
                run_task(dataset, TaskSpec(kind="caption"), "busy_field", settings=settings)
            assert sum(emu.stats.requests.values()) == 0, "nothing is sent while it is busy"
        assert time.monotonic() - started < 5
        assert isinstance(caught.value, GeminiVisionError)
        message = str(caught.value)
        assert "another worker" in message and "run again" in message
    finally:
        release.set()
        thread.join(10)
    dataset.reload()
    assert not dataset.has_field("busy_field")


@pytest.mark.parametrize(
    ("config", "error"),
    [
        (EmulatorConfig(safety_rate=1.0), BlockedResponseError),
        (EmulatorConfig(max_tokens_rate=1.0), TruncatedResponseError),
        (EmulatorConfig(fault_rate_500=1.0), ServerError),
    ],
    ids=["blocked", "cut-off", "server-error"],
)
def test_ask_about_samples_raises_what_stopped_the_answer(
    dataset: Any, config: EmulatorConfig, error: type[Exception]
) -> None:
    with Emulator(config) as emu:
        settings = RunSettings(api_key=KEY, base_url=emu.base_url, retry=NO_RETRY)
        with pytest.raises(error) as caught:
            ask_about_samples(dataset, "What differs?", settings=settings)
    assert not isinstance(caught.value, ConfigurationError)
    assert "gemini_answers" not in dataset.info


def test_ask_about_samples_with_a_refused_key_says_so(dataset: Any) -> None:
    with Emulator(EmulatorConfig(rejected_api_keys={"bad-key-0001"})) as emu:
        settings = RunSettings(api_key="bad-key-0001", base_url=emu.base_url)
        with pytest.raises(RunStoppedError, match="API key was refused"):
            ask_about_samples(dataset, "What differs?", settings=settings)

"""Workers in their own processes: SIGKILLed half-way (online and batch), or two of them at
once on one database. Requests are counted at the emulator, per image."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.fiftyone, pytest.mark.slow]

fo = pytest.importorskip("fiftyone")
foo = pytest.importorskip("fiftyone.operators")

import fiftyone.core.odm as foo_odm  # noqa: E402
from fiftyone.operators.delegated import DelegatedOperationService  # noqa: E402
from support import SUPPORT  # noqa: E402
from support.datasets import DatasetFactory, failures, sha256_of, write_variants  # noqa: E402

from gemini_vision import RunSettings, run_task  # noqa: E402
from gemini_vision.adapters.mongo import BATCHES  # noqa: E402
from gemini_vision.emulator import Emulator, EmulatorConfig  # noqa: E402
from gemini_vision.tasks.spec import TaskSpec  # noqa: E402

WORKER = SUPPORT / "worker.py"
KEY = "test-key-crash-0001"
PLUGIN = "@gemini-vision/gemini"


@pytest.fixture
def dataset(tmp_path: Path, datasets: DatasetFactory) -> Any:
    files = write_variants(tmp_path / "imgs", 150, bases=15, seed=40, salt=uuid.uuid4().hex)
    return datasets.files(files, persistent=True)


def spawn(emu: Emulator, *args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, GEMINI_API_KEY=KEY, GOOGLE_GEMINI_BASE_URL=emu.base_url)
    return subprocess.Popen([sys.executable, str(WORKER), *args], env=env)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes], limit: float) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert proc.poll() is None, "the worker ended before it could be killed"
        assert time.monotonic() < deadline, "timed out waiting for the worker"
        time.sleep(0.05)


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def sha_by_sample(ds: Any) -> dict[str, str]:
    ids, paths = ds.values(["id", "filepath"])
    return {i: sha256_of(Path(p)) for i, p in zip(ids, paths, strict=True)}


def assert_complete_without_duplicates(ds: Any, field: str = "pred") -> None:
    """Every sample labelled once, with the answer its base scene gets (no merged labels)."""
    ds.reload()
    assert ds.exists(field).count() == len(ds)
    assert failures(ds, field) == 0
    per_base: dict[int, set[int]] = {}
    for base, count in zip(*ds.values(["base", f"{field}.detections"]), strict=True):
        per_base.setdefault(base, set()).add(len(count))
    assert all(len(counts) == 1 for counts in per_base.values()), per_base


def test_a_killed_worker_loses_nothing_and_its_finished_samples_are_not_asked_again(
    dataset: Any,
) -> None:
    with Emulator(EmulatorConfig(latency=0.08)) as emu:
        proc = spawn(emu, "run", dataset.name, "pred", "--concurrency", "4", "--lease", "1.5")
        wait_for(lambda: dataset.exists("pred").count() >= 30, proc, limit=120)
        kill(proc)
        labelled_before = set(dataset.exists("pred").values("id"))
        assert 0 < len(labelled_before) < len(dataset)

        summary = run_task(
            dataset,
            TaskSpec(kind="detect"),
            "pred",
            settings=RunSettings(api_key=KEY, base_url=emu.base_url, lease_seconds=1.5),
        )
        sha = sha_by_sample(dataset)
        calls = emu.stats.image_calls
        assert all(calls[sha[i]] == 1 for i in labelled_before)  # never asked again
        asked_twice = [i for i in sha if calls[sha[i]] > 1]
        # only requests that were in flight when the worker died (4 at a time) are repeated;
        # answers received but not yet written came from the response cache
        assert len(asked_twice) <= 4
        assert (
            summary.report["from_cache"]
            >= summary.report["processed"] - summary.report["requests"]
        )
    assert_complete_without_duplicates(dataset)


def test_a_killed_batch_worker_is_resumed_without_submitting_twice(dataset: Any) -> None:
    journal = foo_odm.get_db_conn()[BATCHES]
    config = EmulatorConfig(batch_pending_time=4.0, batch_running_time=0.2)
    with Emulator(config) as emu:
        proc = spawn(emu, "run", dataset.name, "pred", "--mode", "batch", "--poll", "0.2")
        wait_for(lambda: journal.count_documents({"name": {"$ne": None}}) > 0, proc, limit=120)
        kill(proc)
        assert dataset.exists("pred").count() == 0
        emu.config.batch_pending_time = 0.1
        summary = run_task(
            dataset,
            TaskSpec(kind="detect"),
            "pred",
            settings=RunSettings(
                api_key=KEY, base_url=emu.base_url, mode="batch", batch=_fast_batch()
            ),
        )
        assert emu.stats.count("batches.create") == 1
        assert summary.report["batch_jobs_resumed"] == 1
        assert summary.report["batch_jobs_submitted"] == 0
        assert Counter(emu.stats.image_calls.values()) == Counter({1: len(dataset)})
    assert journal.count_documents({}) == 0
    assert_complete_without_duplicates(dataset)


def _fast_batch() -> Any:
    from gemini_vision.engine.batch import BatchSettings

    return BatchSettings(poll_interval=0.1, max_poll_interval=0.2)


def test_two_delegated_workers_share_one_job_without_duplicates(dataset: Any) -> None:
    params = {"label_field": "pred", "concurrency": 2}
    with Emulator(EmulatorConfig(latency=0.15)) as emu:
        # queued under the test's env, which must have what the workers will use
        os.environ["GOOGLE_GEMINI_BASE_URL"] = emu.base_url
        os.environ["GEMINI_API_KEY"] = KEY
        try:
            ops = [
                foo.execute_operator(
                    f"{PLUGIN}/detect_objects",
                    ctx={"dataset": dataset, "params": params},
                    request_delegation=True,
                ).result["id"]
                for _ in range(2)
            ]
        finally:
            del os.environ["GOOGLE_GEMINI_BASE_URL"], os.environ["GEMINI_API_KEY"]
        workers = [spawn(emu, "delegated", str(op)) for op in ops]
        for proc in workers:
            assert proc.wait(timeout=180) == 0
        calls = emu.stats.image_calls
        assert sorted(calls) == sorted(set(sha_by_sample(dataset).values()))
        assert set(calls.values()) == {1}  # every image asked exactly once, by one worker
    service = DelegatedOperationService()
    results = [service.get(op) for op in ops]
    errors = [doc.result.error for doc in results if doc.result and doc.result.error]
    assert [doc.run_state for doc in results] == ["completed", "completed"], "\n".join(errors)
    labelled = [doc.result.result["report"]["labelled"] for doc in results]
    assert sum(labelled) == len(dataset) and min(labelled) > 0, labelled
    assert_complete_without_duplicates(dataset)

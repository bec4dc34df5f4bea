"""Batch mode against the emulator's Batch API: inline and JSONL jobs, dedup, job splitting,
resume after a crash without submitting twice, adoption of a job created just before a crash,
expired jobs, and the cache."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import run_settings
from support.datasets import write_variants

from gemini_vision.api.client import AsyncGeminiClient
from gemini_vision.emulator import Emulator, EmulatorConfig
from gemini_vision.engine import EngineReport, ItemOutcome, WorkItem
from gemini_vision.engine.batch import BatchRecord, BatchRunner, BatchSettings, MemoryJournal
from gemini_vision.engine.cache import MemoryCache
from gemini_vision.tasks.spec import TaskSpec

MODEL = "gemini-2.5-flash"
KEY = "test-key-batch-0001"
FAST = BatchSettings(poll_interval=0.05, max_poll_interval=0.2)


class Crash(Exception):
    """Stands for the worker process dying while it waits for a job."""


async def die(seconds: float) -> None:
    """A sleep that never wakes up: the worker dies at its first wait for the job."""
    raise Crash


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return [p for p, _ in write_variants(tmp_path_factory.mktemp("batch"), 24, bases=6)]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(batch_pending_time=0.05, batch_running_time=0.1)) as server:
        yield server


def run_batch(
    emu: Emulator,
    sources: list[str],
    journal: MemoryJournal,
    *,
    batch: BatchSettings = FAST,
    cache: MemoryCache | None = None,
    sleep: Any = asyncio.sleep,
    **settings: Any,
) -> tuple[EngineReport, dict[str, ItemOutcome]]:
    outcomes: dict[str, ItemOutcome] = {}
    done_keys = set()

    def items() -> tuple[int, list[WorkItem]]:
        # like the runner: only what has no result yet
        todo = [WorkItem(str(i), s) for i, s in enumerate(sources) if str(i) not in done_keys]
        return len(todo), todo

    def sink(batch_: list[ItemOutcome]) -> None:
        for outcome in batch_:
            assert outcome.key not in outcomes, f"{outcome.key} written twice"
            outcomes[outcome.key] = outcome
            done_keys.add(outcome.key)

    async def go() -> EngineReport:
        async with AsyncGeminiClient(KEY, base_url=emu.base_url) as client:
            runner = BatchRunner(
                client,
                TaskSpec(kind="detect"),
                run_settings(model=MODEL, batch=batch, **settings),
                journal=journal,
                group="dataset/field",
                cache=cache,
                sleep=sleep,
            )
            return await runner.run(items, sink)

    return asyncio.run(go()), outcomes


def test_an_inline_job_answers_every_sample_and_asks_identical_images_once(
    emu: Emulator, files: list[Path]
) -> None:
    journal = MemoryJournal()
    sources = [str(p) for p in files[:10]] + [str(files[0])] * 3
    report, outcomes = run_batch(emu, sources, journal)
    assert len(outcomes) == 13 and all(o.status == "ok" for o in outcomes.values())
    assert all(o.answer.objects and o.image is not None for o in outcomes.values())
    assert emu.stats.count("batches.create") == 1
    assert sum(emu.stats.image_calls.values()) == 10  # the three copies rode on one request
    assert report.to_dict()["batch_jobs_submitted"] == 1
    assert report.to_dict()["mode"] == "batch"
    assert not journal.records  # finished jobs leave no record


def test_big_jobs_go_as_an_uploaded_jsonl_file(emu: Emulator, files: list[Path]) -> None:
    journal = MemoryJournal()
    batch = BatchSettings(poll_interval=0.05, inline_limit_bytes=20_000)
    _, outcomes = run_batch(emu, [str(p) for p in files[:8]], journal, batch=batch)
    assert all(o.status == "ok" for o in outcomes.values()) and len(outcomes) == 8
    assert emu.stats.count("files.upload") == 1  # the JSONL file
    assert emu.stats.count("files.download") == 1  # the responses file
    assert emu.stats.count("files.delete") == 1  # the input file, once the job is over


def test_jobs_are_split_at_the_request_limit(emu: Emulator, files: list[Path]) -> None:
    batch = BatchSettings(poll_interval=0.05, max_requests_per_job=5)
    report, outcomes = run_batch(emu, [str(p) for p in files[:12]], MemoryJournal(), batch=batch)
    assert len(outcomes) == 12 and emu.stats.count("batches.create") == 3
    assert report.to_dict()["batch_jobs_submitted"] == 3


def test_a_restarted_worker_collects_its_job_instead_of_submitting_again(
    emu: Emulator, files: list[Path]
) -> None:
    journal = MemoryJournal()
    sources = [str(p) for p in files[:6]]

    with pytest.raises(Crash):
        run_batch(emu, sources, journal, sleep=die)
    (record,) = journal.records.values()
    assert record["state"] == "submitted" and record["name"]
    report, outcomes = run_batch(emu, sources, journal)
    assert emu.stats.count("batches.create") == 1  # not billed twice
    assert sorted(outcomes, key=int) == [str(i) for i in range(6)]
    assert all(o.status == "ok" for o in outcomes.values())
    assert report.to_dict()["batch_jobs_resumed"] == 1
    assert not journal.records


def test_a_record_saved_just_before_a_crash_adopts_its_job_by_name(
    emu: Emulator, files: list[Path]
) -> None:
    journal = MemoryJournal()
    sources = [str(p) for p in files[:4]]
    with pytest.raises(Crash):
        run_batch(emu, sources, journal, sleep=die)
    # the worker died between "create" and saving the job's name
    (token,) = journal.records
    journal.records[token]["name"] = None
    journal.records[token]["state"] = "submitting"
    _, outcomes = run_batch(emu, sources, journal)
    assert emu.stats.count("batches.create") == 1
    assert len(outcomes) == 4 and all(o.status == "ok" for o in outcomes.values())


def test_a_record_whose_job_never_got_created_is_submitted_anew(
    emu: Emulator, files: list[Path]
) -> None:
    journal = MemoryJournal()
    orphan = BatchRecord(token="deadbeef", group="dataset/field", model=MODEL, requests={})
    journal.save(orphan)
    _, outcomes = run_batch(emu, [str(p) for p in files[:3]], journal)
    assert len(outcomes) == 3 and emu.stats.count("batches.create") == 1
    assert not journal.records


def test_an_expired_job_gives_each_sample_a_reason_and_a_rerun_resubmits(
    emu: Emulator, files: list[Path]
) -> None:
    emu.config.batch_expiry = 0.01
    emu.config.batch_pending_time = 0.5
    sources = [str(p) for p in files[:3]]
    _, outcomes = run_batch(emu, sources, MemoryJournal())
    assert {o.status for o in outcomes.values()} == {"failed"}
    assert all(
        "EXPIRED" in (o.error or "") and "run again" in (o.error or "") for o in outcomes.values()
    )
    emu.config.batch_expiry = 3600
    emu.config.batch_pending_time = 0.05
    _, outcomes = run_batch(emu, sources, MemoryJournal())
    assert {o.status for o in outcomes.values()} == {"ok"}


def test_cached_answers_are_written_without_a_job(emu: Emulator, files: list[Path]) -> None:
    cache = MemoryCache()
    sources = [str(p) for p in files[:5]]
    run_batch(emu, sources, MemoryJournal(), cache=cache)
    assert len(cache) == 5
    report, outcomes = run_batch(emu, sources, MemoryJournal(), cache=cache)
    assert emu.stats.count("batches.create") == 1
    assert all(o.cached for o in outcomes.values()) and report.progress.cached == 5


def test_waiting_can_be_capped_and_the_job_is_collected_later(
    emu: Emulator, files: list[Path]
) -> None:
    emu.config.batch_pending_time = 1.0
    journal = MemoryJournal()
    sources = [str(p) for p in files[:3]]
    batch = BatchSettings(poll_interval=0.05, max_wait_seconds=0.2)
    report, outcomes = run_batch(emu, sources, journal, batch=batch)
    assert not outcomes and "still running" in (report.progress.stopped_reason or "")
    assert len(journal.records) == 1
    emu.config.batch_pending_time = 0.05
    report, outcomes = run_batch(emu, sources, journal)
    assert len(outcomes) == 3 and emu.stats.count("batches.create") == 1

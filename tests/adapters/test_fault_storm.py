"""A run over 500 samples while the emulator misbehaves the way Gemini does on a bad day:
20 % 429 (with retry delays), 10 % 500/503, 5 % timeouts, 5 % malformed text, 2 % SAFETY
blocks, 2 % MAX_TOKENS truncations. Every sample ends labelled or with a reason; nothing
escapes; a rerun with the faults gone completes the rest without touching the others."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.fiftyone, pytest.mark.slow]

fo = pytest.importorskip("fiftyone")

from support.datasets import DatasetFactory, failures, sha256_of, write_variants  # noqa: E402

from gemini_vision import RunSettings, run_task  # noqa: E402
from gemini_vision.adapters import describe_summary  # noqa: E402
from gemini_vision.api.retry import RetryPolicy  # noqa: E402
from gemini_vision.emulator import Emulator, EmulatorConfig  # noqa: E402
from gemini_vision.emulator.model.responder import Reply, respond  # noqa: E402
from gemini_vision.tasks.spec import TaskSpec  # noqa: E402

N = 500
KEY = "test-key-faults-0001"
FAULTS = {
    "fault_rate_429": 0.20,
    "fault_429_retry_delay": 0.05,
    "fault_rate_500": 0.05,
    "fault_rate_503": 0.05,
    "timeout_rate": 0.05,
    "malformed_rate": 0.05,
    "safety_rate": 0.02,
    "max_tokens_rate": 0.02,
}


@pytest.fixture
def dataset(tmp_path: Path, datasets: DatasetFactory) -> Any:
    files = write_variants(tmp_path / "imgs", N, bases=20, seed=70, salt=uuid.uuid4().hex)
    return datasets.files(files)


def settings(emu: Emulator) -> RunSettings:
    return RunSettings(
        api_key=KEY,
        base_url=emu.base_url,
        concurrency=16,
        timeout=1.0,  # a hung request costs a second, not two minutes
        retry=RetryPolicy(initial_delay=0.05, max_delay=0.5, jitter=0.05),
    )


def test_a_faulty_server_leaves_every_sample_labelled_or_explained(dataset: Any) -> None:
    config = EmulatorConfig(
        seed=11, latency=0.01, timeout_hold=1.5, faults_per_image=True, **FAULTS
    )
    with Emulator(config) as emu:
        summary = run_task(dataset, TaskSpec(kind="detect"), "pred", settings=settings(emu))
        injected = dict(emu.stats.injected)
        report = summary.report

        # every kind of fault really happened, in about the proportions asked for
        requests = emu.stats.count("generateContent")
        assert requests > N
        for kind, share in (("429", 0.2), ("500", 0.05), ("503", 0.05), ("timeout", 0.05)):
            assert injected.get(kind, 0) >= share * requests / 2, (kind, injected)
        for kind in ("malformed", "safety", "max_tokens"):
            assert injected.get(kind, 0) > 0, (kind, injected)

        # nothing escaped; each sample is labelled or carries a one-line reason
        dataset.reload()
        labelled = set(dataset.exists("pred").values("id"))
        failed = dict(zip(*dataset.exists("pred_error").values(["id", "pred_error"]), strict=True))
        assert labelled.isdisjoint(failed)
        assert len(labelled) + len(failed) == N
        assert report["labelled"] == len(labelled) and report["failed"] == len(failed)
        multiline = [r for r in failed.values() if not r or "\n" in r]
        assert not multiline, multiline
        assert any("SAFETY" in reason for reason in failed.values())
        # retries and pacing are counted in the run's summary
        assert report["retries"] >= injected["429"] + injected["500"] + injected["503"] - len(
            failed
        )
        assert report["rate_limited"] == injected["429"]
        assert report["stopped_reason"] is None

        # the rerun, faults gone: only the failed samples are asked again
        before = dict(zip(*dataset.values(["id", "pred"]), strict=True))
        for name in (*FAULTS, "timeout_hold"):
            setattr(emu.config, name, EmulatorConfig.__dataclass_fields__[name].default)
        emu.stats.reset()
        rerun = run_task(dataset, TaskSpec(kind="detect"), "pred", settings=settings(emu))
        assert rerun.skipped == len(labelled)
        assert rerun.report["labelled"] == len(failed) and rerun.report["failed"] == 0
        paths = dict(zip(*dataset.values(["id", "filepath"]), strict=True))
        asked_again = {sha256_of(Path(paths[i])) for i in failed}
        assert set(emu.stats.image_calls) == asked_again
        assert set(emu.stats.image_calls.values()) == {1}

    dataset.reload()
    assert dataset.exists("pred").count() == N
    assert failures(dataset, "pred") == 0
    after = dict(zip(*dataset.values(["id", "pred"]), strict=True))
    # the first run's labels were not written again, nor changed
    assert all(after[i] == before[i] for i in labelled)
    # no duplicated or merged objects: a copy of a scene never has more objects than the
    # scene's clean answer (truncated or garbled answers salvaged in the first run may have
    # fewer), and samples completed by the rerun have exactly the clean answer
    bases = dict(zip(*dataset.values(["id", "base"]), strict=True))
    counts = {i: len(after[i].detections) for i in after}
    clean: dict[int, int] = {}
    for i in failed:
        assert clean.setdefault(bases[i], counts[i]) == counts[i]
    for i in labelled:
        assert counts[i] <= clean.get(bases[i], counts[i])


def test_a_per_day_quota_stops_the_run_cleanly_and_a_rerun_continues(
    tmp_path: Path, datasets: DatasetFactory
) -> None:
    files = write_variants(tmp_path / "imgs", 60, bases=6, seed=90, salt=uuid.uuid4().hex)
    dataset = datasets.files(files)
    with Emulator(EmulatorConfig(rpd=30, latency=0.01)) as emu:
        first = run_task(dataset, TaskSpec(kind="detect"), "pred", settings=settings(emu))
        reason = first.report["stopped_reason"] or ""
        assert "Per-day quota exhausted" in reason and "run again" in reason
        dataset.reload()
        labelled = set(dataset.exists("pred").values("id"))
        assert len(labelled) == first.report["labelled"] == 30
        assert failures(dataset, "pred") == 0  # the rest is untouched
        emu.reset()  # a new day
        second = run_task(dataset, TaskSpec(kind="detect"), "pred", settings=settings(emu))
        assert second.skipped == 30 and second.report["labelled"] == 30
        assert second.report["stopped_reason"] is None
        assert emu.stats.count("generateContent") == 30  # nothing finished asked again
    dataset.reload()
    assert dataset.exists("pred").count() == 60


def test_answers_cut_off_at_the_output_limit_are_written_and_marked(
    tmp_path: Path, datasets: DatasetFactory
) -> None:
    files = write_variants(tmp_path / "imgs", 6, bases=3, seed=95, salt=uuid.uuid4().hex)
    dataset = datasets.files(files)
    with Emulator(EmulatorConfig(max_tokens_rate=1.0)) as emu:
        summary = run_task(dataset, TaskSpec(kind="detect"), "cut", settings=settings(emu))
    report = summary.report
    assert report["labelled"] == report["incomplete"] == 6 and report["failed"] == 0
    dataset.reload()
    assert dataset.exists("cut.incomplete").count() == 6  # as the README says to find them
    marks = dataset.values("cut.incomplete")
    assert all(m and "cut off at the output limit" in m for m in marks), marks
    assert dataset.count("cut.detections") > 0 and failures(dataset, "cut") == 0
    assert "6 answer(s) were cut short (at the output limit" in describe_summary(summary.to_dict())


def test_objects_without_a_usable_mask_are_counted_and_explained(
    tmp_path: Path, datasets: DatasetFactory
) -> None:
    def first_mask_cut(request: Any, images: Any, *, model: str, rng: Any) -> Reply:
        reply = respond(request, images, model=model, rng=rng)
        if reply.kind != "segment":
            return reply
        items = json.loads(reply.text)
        items[0]["mask"] = items[0]["mask"][:40]  # a PNG cut short
        return Reply(json.dumps(items), reply.kind)

    files = write_variants(tmp_path / "imgs", 4, bases=4, seed=96, salt=uuid.uuid4().hex)
    dataset = datasets.files(files)
    with Emulator(respond=first_mask_cut) as emu:
        summary = run_task(dataset, TaskSpec(kind="segment"), "seg", settings=settings(emu))
    assert summary.report["labelled"] == 4 and summary.report["objects_without_mask"] == 4
    dataset.reload()
    reasons = [r for d in dataset.values("seg.detections.mask_error") for r in d if r]
    assert len(reasons) == 4 and all("mask" in r for r in reasons), reasons
    text = describe_summary(summary.to_dict())
    assert "4 object(s) came without a usable mask" in text and "seg.detections" in text

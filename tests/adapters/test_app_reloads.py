"""A run survives the App's server reloading the dataset under it.

FiftyOne keeps one ``Dataset`` object per dataset and process, and the App's server reloads it
for every operator and panel event. An immediate run in the App writes its fields, run record
and evaluation on that same object while the user clicks around (the Gemini panel follows
the selection): a reload half-way through a change used to stop the whole run after every
label was stored ("Dataset has no run key ...", "weakly-referenced object no longer exists").
"""

from __future__ import annotations

from typing import Any

import pytest
from support.datasets import DatasetFactory

pytestmark = pytest.mark.fiftyone

fo = pytest.importorskip("fiftyone")

from gemini_vision import RunSettings, run_task  # noqa: E402
from gemini_vision.adapters import runner, runs  # noqa: E402
from gemini_vision.adapters.synthetic import GT_DETECTIONS  # noqa: E402
from gemini_vision.tasks import TaskSpec  # noqa: E402

KEY = "test-key-reloads-0001"


@pytest.fixture
def dataset(datasets: DatasetFactory) -> Any:
    return datasets.scenes(3, seed=78)


def test_a_change_undone_by_a_reload_is_made_again(dataset: Any) -> None:
    calls = []

    def step() -> str:
        calls.append(1)
        if len(calls) == 1:
            dataset.reload()  # what the App's server does from another thread
            raise ValueError("Dataset has no run key 'gemini_x'")
        return "done"

    assert runner.despite_reloads(dataset, step) == "done"
    assert len(calls) == 2


def test_a_failure_without_a_reload_is_not_retried(dataset: Any) -> None:
    calls = []

    def step() -> None:
        calls.append(1)
        raise ValueError("a real error")

    with pytest.raises(ValueError, match="a real error"):
        runner.despite_reloads(dataset, step)
    assert len(calls) == 1


def test_the_run_record_is_written_although_the_app_reloaded_the_dataset(
    dataset: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_run = runs.record_run
    reloaded: list[str] = []

    def racing(target: Any, label_field: str, *args: Any, **kwargs: Any) -> Any:
        final = "state" not in (args[1] if len(args) > 1 else kwargs.get("results", {}))
        if final and not reloaded:  # the App reloads just as the final record is written
            reloaded.append(label_field)
            target.reload()
            raise ValueError(f"Dataset has no run key '{runs.run_key_for(label_field)}'")
        return record_run(target, label_field, *args, **kwargs)

    monkeypatch.setattr(runs, "record_run", racing)
    settings = RunSettings(api_key=KEY, base_url=emulator.base_url)
    summary = run_task(dataset, TaskSpec(kind="caption"), "raced", settings=settings)
    assert reloaded == ["raced"]
    assert summary.report["labelled"] == 3
    dataset.reload()
    assert dataset.has_run(runs.run_key_for("raced"))


def test_an_evaluation_that_fails_is_reported_and_the_labels_stay(
    dataset: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ReferenceError("weakly-referenced object no longer exists")

    monkeypatch.setattr(runner, "evaluate", broken)
    settings = RunSettings(api_key=KEY, base_url=emulator.base_url)
    task = TaskSpec(kind="detect", classes=("circle", "square", "triangle", "star"))
    summary = run_task(
        dataset, task, "evaluated", settings=settings, gt_field=GT_DETECTIONS, eval_key="ev"
    )
    assert summary.report["labelled"] == 3
    assert summary.evaluation == {
        "eval_key": "ev",
        "error": "the evaluation failed (ReferenceError: weakly-referenced object no longer "
        "exists)",
    }
    dataset.reload()
    assert dataset.count("evaluated.detections") > 0

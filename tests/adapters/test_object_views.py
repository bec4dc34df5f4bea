"""Tasks on patches and frames views: the crop (or frame) is what is sent, and the labels land
on the source samples (or the source videos' frames), lined up with the source objects -
EXIF-rotated images included."""

from __future__ import annotations

from typing import Any

import pytest
from support.datasets import DatasetFactory

pytestmark = [pytest.mark.fiftyone, pytest.mark.slow]

fo = pytest.importorskip("fiftyone")

from gemini_vision import TaskSpec, run_task  # noqa: E402
from gemini_vision.adapters import clear_cached_answers  # noqa: E402
from gemini_vision.adapters.synthetic import GT_DETECTIONS  # noqa: E402
from gemini_vision.errors import ConfigurationError  # noqa: E402


def iou(a: list[float], b: list[float]) -> float:
    width = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = width * height
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def lined_up(truths: list[Any], found: list[Any]) -> list[float]:
    """For every true object, the best IoU of a found object with its label."""
    scores = []
    for truth, labels in zip(truths, found, strict=True):
        for obj in truth.detections if truth else ():
            same = [d for d in (labels.detections if labels else ()) if d.label == obj.label]
            scores.append(max((iou(obj.bounding_box, d.bounding_box) for d in same), default=0))
    return scores


@pytest.fixture(scope="module")
def scenes_dataset(datasets: DatasetFactory) -> Any:
    # the default formats rotate through EXIF orientations 1, 3, 6 and 8
    return datasets.scenes(8, seed=730)


def test_detect_on_patches_writes_on_the_source_lined_up(
    scenes_dataset: Any, datasets: DatasetFactory, plugin_env: Any
) -> None:
    clear_cached_answers()
    dataset = datasets.clone(scenes_dataset)
    orientations = {int(p.split("_o")[1][0]) for p in dataset.values("filepath")}
    assert orientations & {5, 6, 7, 8} and 1 in orientations
    classes = tuple(dataset.distinct(f"{GT_DETECTIONS}.detections.label"))
    patches = dataset.to_patches(GT_DETECTIONS)
    summary = run_task(
        patches,
        TaskSpec(kind="detect", classes=classes),
        "patch_det",
        gt_field=GT_DETECTIONS,
        eval_key="patch_eval",
    )
    assert summary.report["labelled"] == len(patches) and summary.report["failed"] == 0
    # evaluated on the source samples, against their ground truth
    assert summary.evaluation is not None and summary.evaluation["recall"] >= 0.95
    dataset.reload()
    scores = lined_up(dataset.values(GT_DETECTIONS), dataset.values("patch_det"))
    assert len(scores) == len(patches) and min(scores) >= 0.9, sorted(scores)[:5]
    # each object once, though neighbouring crops overlap
    assert dataset.count("patch_det.detections") == len(patches)
    # classify on patches: the patches, labelled with Gemini's class
    run_task(patches, TaskSpec(kind="classify", classes=classes), "patch_cls")
    dataset.reload()
    truth = dataset.values(f"{GT_DETECTIONS}.detections.label", unwind=True)
    said = dataset.values("patch_cls.detections.label", unwind=True)
    agree = sum(a == b for a, b in zip(sorted(truth), sorted(said), strict=True)) / len(truth)
    assert agree >= 0.9


def test_detect_on_a_frames_view_writes_on_the_video_frames(
    scenes_dataset: Any, datasets: DatasetFactory, plugin_env: Any, tmp_path: Any
) -> None:
    paths, truths = scenes_dataset.values(["filepath", GT_DETECTIONS])
    video = fo.Sample(filepath=str(tmp_path / "clip.mp4"))
    for number, (path, truth) in enumerate(zip(paths, truths, strict=True), start=1):
        video.frames[number] = fo.Frame(filepath=path, ground_truth=truth)
    dataset = datasets.samples([video])
    with pytest.raises(ConfigurationError, match="to_frames"):
        run_task(dataset, TaskSpec(kind="detect"), "det")
    frames = dataset.to_frames(sample_frames=False)
    classes = tuple(scenes_dataset.distinct(f"{GT_DETECTIONS}.detections.label"))
    summary = run_task(frames, TaskSpec(kind="detect", classes=classes), "det")
    assert summary.report["labelled"] == len(paths)
    dataset.reload()
    frames_of = dataset.first().frames
    truths = [frames_of[n]["ground_truth"] for n in sorted(frames_of.keys())]
    found = [frames_of[n]["det"] for n in sorted(frames_of.keys())]
    scores = lined_up(truths, found)
    assert min(scores) >= 0.9, sorted(scores)[:5]


def test_what_has_nowhere_to_go_is_refused(scenes_dataset: Any, plugin_env: Any) -> None:
    patches = scenes_dataset.to_patches(GT_DETECTIONS)
    with pytest.raises(ConfigurationError, match="nowhere to go on the source"):
        run_task(patches, TaskSpec(kind="caption"), "cap")


def test_a_rerun_on_patches_is_answered_from_the_cache(
    scenes_dataset: Any, datasets: DatasetFactory, plugin_env: Any
) -> None:
    dataset = datasets.clone(scenes_dataset.limit(2))
    patches = dataset.to_patches(GT_DETECTIONS)
    run_task(patches, TaskSpec(kind="detect"), "first")
    before = plugin_env.stats.count("generateContent")
    again = run_task(patches, TaskSpec(kind="detect"), "second")
    assert plugin_env.stats.count("generateContent") == before
    assert again.report["from_cache"] == len(patches)


def test_the_detect_operator_on_a_patches_view(
    scenes_dataset: Any, datasets: DatasetFactory, plugin_env: Any
) -> None:
    import fiftyone.operators as foo

    dataset = datasets.clone(scenes_dataset.limit(2))
    patches = dataset.to_patches(GT_DETECTIONS)
    result = foo.execute_operator(
        "@gemini-vision/gemini/detect_objects",
        ctx={"view": patches, "params": {"label_field": "op_det", "target": "CURRENT_VIEW"}},
    )
    assert result.result["report"]["labelled"] == len(patches)
    dataset.reload()
    assert dataset.count("op_det.detections") == len(patches)

"""The whole pipeline is indifferent to how the model dresses its answer.

Real Gemini answers the same question in many styles (see tests/data/real-gemini): fenced or
not, with prose around, pretty-printed, wrapped in an object, with other key names. Here the
emulator's answers are re-dressed in one of those styles per request, and the labels written
to the dataset must be as good as with plain answers.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.fiftyone

fo = pytest.importorskip("fiftyone")

from support.datasets import DatasetFactory  # noqa: E402

from gemini_vision import RunSettings, run_task  # noqa: E402
from gemini_vision.adapters.evaluation import evaluate  # noqa: E402
from gemini_vision.adapters.synthetic import GT_DETECTIONS  # noqa: E402
from gemini_vision.emulator import Emulator  # noqa: E402
from gemini_vision.emulator.model.responder import Reply, respond  # noqa: E402
from gemini_vision.tasks.spec import TaskKind, TaskSpec  # noqa: E402


def _fenced(items: list[dict[str, Any]]) -> str:
    return "Here are the bounding box detections:\n```json\n" + json.dumps(items) + "\n```"


def _pretty(items: list[dict[str, Any]]) -> str:
    return json.dumps(items, indent=2, ensure_ascii=False)


def _upper_fence_with_advice(items: list[dict[str, Any]]) -> str:
    return "```JSON\n" + json.dumps(items) + "\n```\n\nLet me know if you need anything else."


def _wrapped(items: list[dict[str, Any]]) -> str:
    return json.dumps({"objects": items})


def _bbox_key(items: list[dict[str, Any]]) -> str:
    renamed = [{("bbox" if k == "box_2d" else k): v for k, v in item.items()} for item in items]
    return "```\n" + json.dumps(renamed) + "\n```"


def _indented_unclosed(items: list[dict[str, Any]]) -> str:
    body = json.dumps(items, indent=2).replace("\n", "\n    ")
    return "    ```json\n    " + body + "\n"


def _yx_keys(items: list[dict[str, Any]]) -> str:
    out = []
    for item in items:
        rest = {k: v for k, v in item.items() if k != "box_2d"}
        if "box_2d" in item:
            y, x, y2, x2 = item["box_2d"]
            rest.update(y=y, x=x, y2=y2, x2=x2)
        out.append(rest)
    return json.dumps(out)


def _one_per_line(items: list[dict[str, Any]]) -> str:
    lines = ",\n".join("  " + json.dumps(item) for item in items)
    return "[\n" + lines + "\n]"


def _prose_list(items: list[dict[str, Any]]) -> str:
    coordinates = ("box_2d", "point")
    lines = [
        f"{n}. **{item['label']}**: {next(item[k] for k in coordinates if k in item)}"
        for n, item in enumerate(items, start=1)
    ]
    return "I found these objects:\n\n" + "\n".join(lines)


STYLES: list[Callable[[list[dict[str, Any]]], str]] = [
    _fenced,
    _pretty,
    _upper_fence_with_advice,
    _wrapped,
    _bbox_key,
    _indented_unclosed,
    _yx_keys,
    _one_per_line,
    _prose_list,
]


def restyled(request: Any, images: Any, *, model: str, rng: random.Random) -> Reply:
    """The emulator's answer, re-dressed in a real-Gemini style chosen by ``rng``."""
    reply = respond(request, images, model=model, rng=rng)
    if reply.kind not in ("detect", "segment", "point"):
        return reply
    items = json.loads(reply.text)
    style = STYLES[rng.randrange(len(STYLES))]
    if reply.kind != "detect" and style is _yx_keys:
        style = _pretty  # y/x keys only exist for boxes
    if reply.kind == "segment" and style is _prose_list:
        style = _pretty  # a prose list has no room for masks
    return Reply(style(items), reply.kind)


@pytest.fixture(scope="module")
def dataset(datasets: DatasetFactory) -> Any:
    return datasets.scenes(16, seed=500)


@pytest.fixture(scope="module")
def settings() -> Iterator[RunSettings]:
    with Emulator(respond=restyled) as server:
        yield RunSettings(api_key="styles-key", base_url=server.base_url, use_cache=False)


def _classes(dataset: Any) -> tuple[str, ...]:
    return tuple(dataset.distinct(f"{GT_DETECTIONS}.detections.label"))


def test_detections_survive_every_style(
    dataset: Any, settings: RunSettings, tmp_path: Path
) -> None:
    task = TaskSpec(kind=TaskKind.DETECT, classes=_classes(dataset))
    summary = run_task(dataset, task, "styled_boxes", settings=settings)
    assert summary.report["failed"] == 0, summary.report
    metrics = evaluate(dataset, "styled_boxes", GT_DETECTIONS, "eval_styled_boxes")
    assert metrics["precision"] >= 0.95 and metrics["recall"] >= 0.95, metrics


def test_masks_survive_every_style(dataset: Any, settings: RunSettings) -> None:
    task = TaskSpec(kind=TaskKind.SEGMENT, classes=_classes(dataset))
    summary = run_task(dataset, task, "styled_masks", settings=settings)
    assert summary.report["failed"] == 0, summary.report
    metrics = evaluate(dataset, "styled_masks", GT_DETECTIONS, "eval_styled_masks")
    assert metrics["use_masks"] and metrics["mean_matched_iou"] >= 0.9, metrics


def test_points_survive_every_style(dataset: Any, settings: RunSettings) -> None:
    task = TaskSpec(kind=TaskKind.POINT, classes=_classes(dataset))
    summary = run_task(dataset, task, "styled_points", settings=settings)
    assert summary.report["failed"] == 0, summary.report
    truth = sum(len(d.detections) for d in dataset.values(GT_DETECTIONS))
    assert dataset.count("styled_points.keypoints") == truth

"""Tasks on object-level views: patches of objects, and frames of videos.

**Patches** (``to_patches(field)``, ``to_evaluation_patches(eval_key)``): each patch's object
is cropped from its image as the App shows it (EXIF orientation applied; with ``margin`` of
context on every side and at least ``min_side`` pixels; see :mod:`gemini_vision.images.crops`)
and the crop is what is sent. The patch's object as Gemini finds it - the found box that
overlaps the patch's box most, the point nearest its centre - is mapped back to the whole
image and written on the *source* sample, in ``label_field``, so it can be evaluated against
the source's ground truth (objects seen in a crop's margin are other patches' business; one
object found from two overlapping patches is kept once).
Detection, segmentation and pointing write what they find; classification writes a
``Detections`` field mirroring the patches, labelled with Gemini's class.

**Frames** (``to_frames()`` of a video dataset whose frames are image files): each frame is
sent as an image and its labels are written on the source video's frame, in
``frames.<label_field>``.

A patch's results are written when every patch has been answered (they are merged per
sample); frames are written as they are answered.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import fiftyone as fo

from gemini_vision.adapters.fields import OUTPUT_TYPES
from gemini_vision.adapters.labels import to_label
from gemini_vision.adapters.mongo import MongoResponseCache
from gemini_vision.adapters.summary import RunSummary
from gemini_vision.engine import (
    EngineReport,
    ItemOutcome,
    WorkItem,
    check_access,
    failed_outcome,
    open_engine,
    run_coroutine_sync,
)
from gemini_vision.errors import ConfigurationError, GeminiVisionError
from gemini_vision.images import load_display_image
from gemini_vision.images.crops import Crop, crop_boxes
from gemini_vision.settings import RunSettings
from gemini_vision.tasks import TaskKind, TaskSpec

__all__ = ["OBJECT_TASKS", "ask_about_crops", "run_on_frames", "run_on_patches"]

#: what can run on patches (and frames)
OBJECT_TASKS = frozenset({TaskKind.DETECT, TaskKind.SEGMENT, TaskKind.POINT, TaskKind.CLASSIFY})

#: a second finding of the same object (same label) from an overlapping patch
_SAME_OBJECT_IOU = 0.7
#: the least overlap of a found box with its patch's box for it to be the patch's object
_PATCH_IOU = 0.3


def run_on_patches(
    patches: Any,
    task: TaskSpec,
    label_field: str,
    *,
    settings: RunSettings | None = None,
    progress: Any = None,
) -> RunSummary:
    """Runs ``task`` on the crops of a patches view (``settings.crop_margin`` and
    ``crop_min_side``); writes on the source samples."""
    settings = settings or RunSettings()
    source = patches._source_collection._dataset
    _check_target(source, label_field, task, frames=False)
    check_access(settings)
    boxes = _patch_boxes(patches)
    wanted = [
        (f"{sample_id}/{patch_id}", sample_id, box)
        for sample_id, entries in boxes.items()
        for patch_id, box in entries
    ]
    outcomes, crops, report = ask_about_crops(source, wanted, task, settings, progress=progress)
    boxes_of = {key: (sample_id, box) for key, sample_id, box in wanted}
    per_sample: dict[str, list[Any]] = defaultdict(list)
    for key, outcome in outcomes.items():
        if outcome.status != "ok" or outcome.image is None or key not in crops:
            continue
        sample_id, box = boxes_of[key]
        per_sample[sample_id] += _mapped(task, outcome, crops[key], box)
    values = {sid: _container(task, _once(found)) for sid, found in per_sample.items()}
    if values:
        source.set_values(label_field, values, key_field="id", validate=False)
    return _summary(source, task, label_field, settings, report, len(wanted))


def run_on_frames(
    frames: Any,
    task: TaskSpec,
    label_field: str,
    *,
    settings: RunSettings | None = None,
    progress: Any = None,
) -> RunSummary:
    """Runs ``task`` on every frame image of a frames view; writes on the source frames."""
    settings = settings or RunSettings()
    source = frames._source_collection._dataset
    _check_target(source, label_field, task, frames=True)
    check_access(settings)
    todo = frames
    if not settings.overwrite and frames.has_field(label_field):
        todo = frames.exists(label_field, False)  # frames done by an earlier run are skipped
    ids, paths = todo.values(["id", "filepath"])
    path = f"frames.{label_field}"

    def sink(batch: list[ItemOutcome]) -> dict[str, str]:
        labels = {
            o.key: to_label(
                task.kind, o.answer, o.image.display_size, multi_label=task.multi_label
            )
            for o in batch
            if o.status == "ok" and o.image is not None
        }
        errors = {o.key: o.error for o in batch if o.status != "ok"}
        if labels:
            source.set_values(path, labels, key_field="frames.id", validate=False)
        if errors:
            if not source.has_frame_field(f"{label_field}_error"):
                source.add_frame_field(f"{label_field}_error", fo.StringField)
            source.set_values(f"{path}_error", errors, key_field="frames.id", validate=False)
        return {}

    engine = open_engine(task, settings, cache=_cache(source, settings), on_progress=progress)

    async def go() -> EngineReport:
        async with engine.client:
            work = [WorkItem(i, p) for i, p in zip(ids, paths, strict=True)]
            return await engine.run(work, sink, total=len(work))

    report = run_coroutine_sync(go)
    return _summary(source, task, label_field, settings, report, len(ids))


def _check_target(source: Any, label_field: str, task: TaskSpec, *, frames: bool) -> None:
    """Declares the output field on the source (refusing a field of another type)."""
    if not label_field.isidentifier():
        raise ConfigurationError(f"{label_field!r} is not a valid field name")
    output = OUTPUT_TYPES[task.kind]
    if task.kind is TaskKind.CLASSIFY and not frames:
        wanted: type | None = fo.Detections  # the patches, labelled with Gemini's class
    else:
        wanted = output[0] if output else None
    existing = source.get_frame_field_schema() if frames else source.get_field_schema()
    current = (existing or {}).get(label_field)
    if current is not None:
        if getattr(current, "document_type", None) is not wanted:
            raise ConfigurationError(
                f"{label_field!r} already holds other data on the source dataset; choose "
                "another output field"
            )
        return
    add = source.add_frame_field if frames else source.add_sample_field
    if wanted is None:
        add(label_field, fo.StringField)
    else:
        add(label_field, fo.EmbeddedDocumentField, embedded_doc_type=wanted)


def _patch_boxes(patches: Any) -> dict[str, list[tuple[str, tuple]]]:
    """``{source sample id: [(patch id, relative box), ...]}`` of a patches view (of its
    label field; of both fields of an evaluation patches view)."""
    fields = [f for f in patches._label_fields if f]
    boxes: dict[str, list[tuple[str, tuple]]] = defaultdict(list)
    for field_name in fields:
        ids, sample_ids, labels = patches.values(["id", "sample_id", field_name])
        for patch_id, sample_id, label in zip(ids, sample_ids, labels, strict=True):
            for det in _detections(label):
                boxes[str(sample_id)].append((f"{patch_id}-{det.id}", tuple(det.bounding_box)))
    return boxes


def _detections(label: Any) -> list[Any]:
    if isinstance(label, fo.Detection):
        return [label]
    if isinstance(label, fo.Detections):
        return list(label.detections)
    return []


def _cache(dataset: Any, settings: RunSettings) -> MongoResponseCache | None:
    """The response cache, as for any run (a rerun pays for nothing already answered)."""
    return MongoResponseCache(dataset_id=str(dataset._doc.id)) if settings.use_cache else None


def ask_about_crops(
    dataset: Any,
    objects: Sequence[tuple[str, str, Sequence[float]]],
    task: TaskSpec,
    settings: RunSettings,
    *,
    progress: Any = None,
) -> tuple[dict[str, ItemOutcome], dict[str, Crop], EngineReport]:
    """Asks ``task`` about the crop of each ``(key, sample id, relative box)`` of ``dataset``
    (``settings.crop_margin`` / ``crop_min_side``; each image decoded once); returns the
    outcomes and crops by key, and the engine's report. An image that cannot be read fails
    each of its objects with the reason. Answers go through the response cache."""
    by_sample: dict[str, list[tuple[str, Sequence[float]]]] = defaultdict(list)
    for key, sample_id, box in objects:
        by_sample[sample_id].append((key, box))
    outcomes: dict[str, ItemOutcome] = {}
    crops: dict[str, Crop] = {}
    lock = threading.Lock()

    def items() -> Iterator[WorkItem]:
        ids, paths = dataset.select(list(by_sample)).values(["id", "filepath"])
        path_of = dict(zip(ids, paths, strict=True))
        for sample_id, entries in by_sample.items():
            try:
                image = load_display_image(path_of[sample_id])
            except GeminiVisionError as exc:
                with lock:
                    outcomes.update((key, failed_outcome(key, exc)) for key, _ in entries)
                continue
            cut = crop_boxes(
                image,
                [box for _, box in entries],
                margin=settings.crop_margin,
                min_side=settings.crop_min_side,
            )
            for (key, _), crop in zip(entries, cut, strict=True):
                with lock:
                    crops[key] = crop
                yield WorkItem(key, crop.data)

    def sink(batch: list[ItemOutcome]) -> dict[str, str]:
        with lock:
            outcomes.update((o.key, o) for o in batch)
        return {}

    # crops are small already: sent as they are
    engine = open_engine(
        task,
        dataclasses.replace(settings, max_image_side=None),
        cache=_cache(dataset, settings),
        on_progress=progress,
    )

    async def go() -> EngineReport:
        async with engine.client:
            return await engine.run(items(), sink, total=len(objects))

    return outcomes, crops, run_coroutine_sync(go)


def _mapped(task: TaskSpec, outcome: ItemOutcome, crop: Crop, box: tuple[float, ...]) -> list[Any]:
    """The patch's object as found in its crop, in the whole image's coordinates: the found
    box that overlaps the patch's box most (at least :data:`_PATCH_IOU`), or the point inside
    it nearest its centre; the others are other patches' objects, seen in the margin."""
    assert outcome.image is not None
    label = to_label(task.kind, outcome.answer, outcome.image.display_size)
    if task.kind is TaskKind.CLASSIFY:
        if label is None:
            return []
        return [
            fo.Detection(label=label.label, bounding_box=list(box), confidence=label.confidence)
        ]
    if task.kind is TaskKind.POINT:
        centre = (box[0] + box[2] / 2, box[1] + box[3] / 2)
        points = [
            _with(k, points=[crop.to_image([x, y, 0, 0])[:2] for x, y in k.points])
            for k in label.keypoints
            if k.points
        ]
        inside = [k for k in points if all(_inside(p, box) for p in k.points)]
        nearest = sorted(inside, key=lambda k: _distance(k.points[0], centre))
        return nearest[:1]
    mapped = [_with(d, bounding_box=crop.to_image(d.bounding_box)) for d in label.detections]
    best = max(mapped, key=lambda d: _iou(d.bounding_box, list(box)), default=None)
    if best is None or _iou(best.bounding_box, list(box)) < _PATCH_IOU:
        return []
    return [best]


def _with(label: Any, **values: Any) -> Any:
    copy = label.copy()
    for name, value in values.items():
        copy[name] = value
    return copy


def _distance(a: list[float], b: tuple[float, float]) -> float:
    return float(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5)


def _inside(point: tuple[float, ...] | list[float], box: tuple[float, ...]) -> bool:
    return box[0] <= point[0] <= box[0] + box[2] and box[1] <= point[1] <= box[1] + box[3]


def _once(found: list[Any]) -> list[Any]:
    """``found`` without second findings of one object (same label, boxes overlapping)."""
    kept: list[Any] = []
    for item in sorted(found, key=lambda d: -(getattr(d, "confidence", None) or 0)):
        box = getattr(item, "bounding_box", None)
        if box is not None and any(
            other.label == item.label and _iou(box, other.bounding_box) >= _SAME_OBJECT_IOU
            for other in kept
            if getattr(other, "bounding_box", None) is not None
        ):
            continue
        kept.append(item)
    return kept


def _iou(a: list[float], b: list[float]) -> float:
    width = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = width * height
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _container(task: TaskSpec, found: list[Any]) -> Any:
    if task.kind is TaskKind.POINT:
        return fo.Keypoints(keypoints=found)
    return fo.Detections(detections=found)


def _summary(
    source: Any,
    task: TaskSpec,
    label_field: str,
    settings: RunSettings,
    report: EngineReport,
    total: int,
) -> RunSummary:
    return RunSummary(
        label_field=label_field,
        task=task.to_dict(),
        model=settings.model,
        total=total,
        skipped=0,
        report=report.to_dict(),
    )

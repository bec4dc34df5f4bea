"""FiftyOne datasets of synthetic scenes with exact ground truth (tests, demo, benchmarks).

Each sample is a generated scene (see :mod:`.scenes`) written in a rotating set of formats —
JPEG with EXIF orientations, PNG, WEBP, HEIC — at non-square sizes, with three ground-truth
fields in the frame FiftyOne displays:

- ``ground_truth``: ``fo.Detections`` with boxes and instance masks,
- ``ground_truth_seg``: ``fo.Segmentation`` (one class index per pixel, mask targets set),
- ``ground_truth_cls``: ``fo.Classification`` (the scene's dominant shape class).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fiftyone as fo

from gemini_vision.demo import scenes

__all__ = [
    "DEFAULT_FORMATS",
    "GT_CLASSIFICATION",
    "GT_DETECTIONS",
    "GT_SEGMENTATION",
    "PlantedMistakes",
    "SampleFormat",
    "make_scene_dataset",
    "plant_mistakes",
]

GT_DETECTIONS = "ground_truth"
GT_SEGMENTATION = "ground_truth_seg"
GT_CLASSIFICATION = "ground_truth_cls"


@dataclass(frozen=True)
class SampleFormat:
    """How one sample's image is stored: file suffix, EXIF orientation and size (w, h)."""

    suffix: str
    orientation: int = 1
    size: tuple[int, int] | None = None


#: the default rotation of formats: EXIF-rotated JPEGs, non-square PNG/WEBP/HEIC
DEFAULT_FORMATS: tuple[SampleFormat, ...] = (
    SampleFormat(".jpg", 6, (960, 640)),
    SampleFormat(".png", 1, (800, 600)),
    SampleFormat(".webp", 1, (640, 896)),
    SampleFormat(".heic", 1, (720, 720)),
    SampleFormat(".jpg", 3, (1200, 700)),
    SampleFormat(".jpg", 8, (700, 1000)),
    SampleFormat(".jpg", 1, (1600, 900)),
    SampleFormat(".png", 1, (512, 768)),
)


def _to_sample(scene: scenes.Scene, path: Path) -> fo.Sample:
    truth = scenes.ground_truth(scene)
    detections = [
        fo.Detection(
            label=d.label,
            bounding_box=list(d.box_xywh_rel),
            mask=d.mask,
            color=d.color,
        )
        for d in truth.detections
    ]
    return fo.Sample(
        filepath=str(path),
        **{
            GT_DETECTIONS: fo.Detections(detections=detections),
            GT_SEGMENTATION: fo.Segmentation(mask=truth.semantic_mask),
            GT_CLASSIFICATION: fo.Classification(label=truth.scene_class),
        },
    )


def make_scene_dataset(
    directory: str | Path,
    *,
    count: int = 8,
    seed: int = 0,
    name: str | None = None,
    persistent: bool = False,
    formats: Sequence[SampleFormat] = DEFAULT_FORMATS,
    overwrite: bool = True,
) -> fo.Dataset:
    """Writes ``count`` scenes into ``directory`` and returns a dataset of them with truth."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if name and fo.dataset_exists(name):
        if not overwrite:
            return fo.load_dataset(name)
        fo.delete_dataset(name)
    samples = []
    for i, fmt in zip(range(count), itertools.cycle(formats)):
        scene = scenes.generate_scene(seed + i, fmt.size)
        path = directory / f"scene_{seed + i:05d}_o{fmt.orientation}{fmt.suffix}"
        scenes.save_scene(scene, path, orientation=fmt.orientation)
        samples.append(_to_sample(scene, path))
    dataset = fo.Dataset(name, persistent=persistent)
    dataset.add_samples(samples, progress=False)
    targets = {0: "background"} | {i + 1: c for i, c in enumerate(scenes.CLASSES)}
    dataset.mask_targets = {GT_SEGMENTATION: targets}
    dataset.save()
    dataset.compute_metadata(progress=False)
    return dataset


@dataclass
class PlantedMistakes:
    """The label ids of each kind of mistake planted in a noisy copy of the ground truth, and
    of the planted predictions' misses and false alarms (see :func:`plant_mistakes`)."""

    wrong_labels: list[str]
    missing: list[str]
    extra_boxes: list[str]
    correct: list[str]
    real_misses: list[str]
    false_alarms: list[str]


def plant_mistakes(
    dataset: fo.Dataset,
    *,
    gt_field: str = GT_DETECTIONS,
    noisy_field: str = "noisy_ground_truth",
    pred_field: str = "planted_predictions",
    per_kind: int = 20,
    seed: int = 0,
) -> PlantedMistakes:
    """Writes ``noisy_field``, a copy of ``gt_field`` with ``per_kind`` objects relabelled to
    another class, ``per_kind`` removed (still in the image: missing ground truth) and
    ``per_kind`` boxes added where there is nothing; and ``pred_field``, the true objects as a
    perfect detector's predictions less ``per_kind`` of them (real misses) plus ``per_kind``
    boxes on empty background (false alarms). Returns the ids of each kind."""
    rng = random.Random(seed)
    ids, truths = dataset.values(["id", f"{gt_field}.detections"])
    everything = [(sid, det) for sid, dets in zip(ids, truths, strict=True) for det in dets or ()]
    picked = rng.sample(everything, 3 * per_kind)
    wrong = {d.id for _, d in picked[:per_kind]}
    missing = {d.id for _, d in picked[per_kind : 2 * per_kind]}
    missed = {d.id for _, d in picked[2 * per_kind :]}
    classes = sorted({d.label for _, d in everything})
    noisy: dict[str, fo.Detections] = {}
    preds: dict[str, fo.Detections] = {}
    planted = PlantedMistakes([], [], [], [], [], [])
    for sid, dets in zip(ids, truths, strict=True):
        kept, predicted = [], []
        for det in dets or ():
            if det.id not in missed:
                predicted.append(
                    fo.Detection(label=det.label, bounding_box=det.bounding_box, confidence=0.9)
                )
            if det.id in missing:  # (never also missed: the picks are disjoint)
                planted.missing.append(predicted[-1].id)  # its prediction: a false positive
                continue
            copy = fo.Detection(label=det.label, bounding_box=det.bounding_box)
            if det.id in wrong:
                copy.label = rng.choice([c for c in classes if c != det.label])
                planted.wrong_labels.append(copy.id)
            else:
                planted.correct.append(copy.id)
            if det.id in missed:
                planted.real_misses.append(copy.id)
            kept.append(copy)
        noisy[sid], preds[sid] = (
            fo.Detections(detections=kept),
            fo.Detections(detections=predicted),
        )
    for field_name, labels, kind in ((noisy_field, noisy, "extra"), (pred_field, preds, "alarm")):
        empty = _empty_boxes(ids, truths, per_kind, rng)
        for sid, box in empty:
            det = fo.Detection(label=rng.choice(classes), bounding_box=box)
            if kind == "alarm":
                det.confidence = 0.6
            labels[sid].detections.append(det)
            (planted.extra_boxes if kind == "extra" else planted.false_alarms).append(det.id)
        dataset.set_values(field_name, labels, key_field="id")
    return planted


def _empty_boxes(
    ids: list[str], truths: list[Any], count: int, rng: random.Random
) -> list[tuple[str, list[float]]]:
    """``count`` boxes (sample id, relative box) that overlap no true object, with room."""
    found: list[tuple[str, list[float]]] = []
    while len(found) < count:
        index = rng.randrange(len(ids))
        w, h = rng.uniform(0.1, 0.16), rng.uniform(0.1, 0.16)
        x, y = rng.uniform(0.02, 0.98 - w), rng.uniform(0.02, 0.98 - h)
        pad = 0.06  # the crop's context must be empty too
        others = [d.bounding_box for d in truths[index] or ()] + [
            b for sid, b in found if sid == ids[index]
        ]
        if all(
            x + w + pad < bx or bx + bw + pad < x or y + h + pad < by or by + bh + pad < y
            for bx, by, bw, bh in others
        ):
            found.append((ids[index], [x, y, w, h]))
    return found

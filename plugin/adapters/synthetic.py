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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import fiftyone as fo

from gemini_vision.demo import scenes

__all__ = [
    "DEFAULT_FORMATS",
    "GT_CLASSIFICATION",
    "GT_DETECTIONS",
    "GT_SEGMENTATION",
    "SampleFormat",
    "make_scene_dataset",
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
